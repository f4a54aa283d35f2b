"""The built-in plugin of tasks: registered through the hook any plugin implements."""

from seqgen.hookspecs import hookimpl


@hookimpl
def register_tasks(register):
    from seqgen.tasks.encoder_decoder import EncoderDecoder
    from seqgen.tasks.generators import ManyToMany, OneToMany
    from seqgen.tasks.many_to_one import ManyToOne

    register("many-to-many", ManyToMany,
             description="Continue a sequence: the next token at every step (a label joins "
                         "every step)")
    register("one-to-many", OneToMany,
             description="Unroll a label (or a learned start) into a whole item")
    register("encoder-decoder", EncoderDecoder,
             description="A sequence in, another of a different length out (pairs)")
    register("many-to-one", ManyToOne,
             description="A whole item in, its label out: a classifier")
