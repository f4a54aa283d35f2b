"""The built-in tasks, one per shape of the classic RNN diagram (``seqgen.task`` is their
contract): generators that continue a sequence or start from a label (``generators``), the
encoder-decoder (``encoder_decoder``), and the classifier (``many_to_one``)."""
