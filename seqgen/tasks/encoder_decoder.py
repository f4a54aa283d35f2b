"""The encoder-decoder: a sequence in, another of a different length out, trained on pairs;
where its codec has rules, their weights are fitted after training."""

import time
from typing import Any

from seqgen.config import ModelConfig, TrainConfig
from seqgen.errors import UsageError
from seqgen.task import Task


class EncoderDecoder(Task):
    """An encoder reads the source; a decoder with attention writes the target."""

    name = "encoder-decoder"
    own_settings = ("encoder_layers", "encoder_hidden", "bidirectional", "attention",
                    "input_feeding", "clock", "source_track", "shared_vocab", "controls",
                    "control_bins", "control_free")

    def check_settings(self, config: TrainConfig) -> None:
        if config.input_feeding and config.attention == "none":
            raise UsageError("--input-feeding feeds the attention back: it needs --attention "
                             "general, dot or additive, not none")
        if config.label_from is not None:
            raise UsageError("an encoder-decoder is conditioned on its source, not a label: "
                             "drop --label-from")
        if config.items is not None:
            raise UsageError(f"an encoder-decoder reads pairs: drop --items {config.items}")

    def load_corpus(self, path, config: TrainConfig, *, strict=False, progress=None,
                    fitted=None) -> Any:
        from seqgen.data.pairs import load_pairs

        return load_pairs(path, config.format, config.codec_options,
                          source_track=config.source_track,
                          shared_vocab=config.shared_vocab or None, strict=strict,
                          progress=progress, val_fraction=config.val_fraction)

    def prepare_corpus(self, corpus: Any) -> Any:
        if not hasattr(corpus, "source_codec"):
            raise UsageError("an encoder-decoder trains on pairs: load the corpus with "
                             "seqgen.data.pairs.load_pairs")
        return corpus

    def settle(self, config: TrainConfig, corpus: Any) -> TrainConfig:
        """The clock: on where the pairs' codec keeps time, unless asked otherwise."""
        from dataclasses import replace

        return replace(config, clock=config.resolve_clock(token_seconds(corpus) is not None))

    def model_config(self, config: TrainConfig, corpus: Any) -> ModelConfig:
        return config.model_config(corpus.codec.size, 0, corpus.source_codec.size)

    def build_model(self, config: ModelConfig, corpus: Any = None) -> Any:
        from seqgen.nn.seq2seq import build_seq2seq

        timed = config.clock_size and corpus is not None
        return build_seq2seq(config, token_seconds(corpus) if timed else None)

    def checkpoint_fields(self, corpus: Any) -> tuple[dict, dict]:
        tracks = {"source_track": corpus.source_track} if corpus.source_track else {}
        if corpus.target_tracks:
            tracks["target_tracks"] = list(corpus.target_tracks)
        return {"source_codec": corpus.source_codec.to_json()}, tracks

    def after_training(self, trainer: Any) -> dict[str, float] | None:
        """Where the codec has rules: fit their weights to the best snapshot (``rule_fit``) on
        the training pairs, and record them with it (and with the last snapshot where that is
        the best)."""
        from seqgen.training.checkpoint import load_checkpoint, write_rule_fit
        from seqgen.training.rule_fit import fit_rule_weights

        if not trainer.world.is_main or not trainer.corpus.codec.implements("rules"):
            return None
        trainer.emit({"event": "note", "text": "fitting the weights of the codec's rules to "
                                               "the best snapshot (a minute or so)"})
        started = time.perf_counter()
        best = load_checkpoint(trainer.run_dir / "best", trainer.device)
        train, val = trainer.corpus.split(trainer.config.val_fraction)
        fit = fit_rule_weights(best.model, best.codec, train, val, trainer.config.precision)
        if fit is None:
            return None
        write_rule_fit(best.path, fit.to_json())
        if trainer.val_loss == trainer.best_val_loss:
            write_rule_fit(trainer.run_dir / "last", fit.to_json())
        trainer.emit({"event": "rules", **fit.to_json(),
                      "seconds": time.perf_counter() - started})
        return fit.weights

    def writes_from_inputs(self) -> bool:
        return True

    def evaluate(self, ckpt, val, batches, precision: str, beam: int, result,
                 progress=None) -> None:
        """Exact match and chrF of the outputs for the validation pairs (a codec of text),
        greedy and with a beam (telling ``progress`` the pairs decoded); the loss with the
        learnt rule weights."""
        from seqgen.training.evaluation import decoding_scores
        from seqgen.training.rule_fit import held_out_losses

        if ckpt.codec.reads_text:
            result.decoding = decoding_scores(ckpt.model, ckpt.codec, val, beam, precision,
                                              progress)
            result.pairs = len(val.targets)
        if ckpt.rule_weights is not None:
            _, result.ruled_loss = held_out_losses(ckpt.model, ckpt.codec, val,
                                                   ckpt.rule_weights, precision)


def token_seconds(corpus: Any) -> tuple | None:
    """The seconds of each source and target token of pairs whose codecs keep time (a
    clock's); None where either does not."""
    sides = corpus.source_codec.token_seconds(), corpus.codec.token_seconds()
    return None if any(side is None for side in sides) else sides
