"""The generators: many-to-many (continue a sequence) and one-to-many (unroll a label or a
learned start into a whole item), one ``Generator`` model between them."""

from typing import Any

from seqgen.config import ModelConfig, TrainConfig
from seqgen.errors import UsageError
from seqgen.task import Task


class ManyToMany(Task):
    """Reads a stream or items and predicts the next token at every step."""

    name = "many-to-many"
    starts_from_label = False  # a label joins every step
    own_settings = ("controls", "control_bins", "control_free")

    def load_corpus(self, path, config: TrainConfig, *, strict=False, progress=None,
                    fitted=None) -> Any:
        from seqgen.data.corpus import load_corpus

        return load_corpus(path, config.format, config.codec_options, items=config.items,
                           label_from=config.label_from, strict=strict, progress=progress,
                           val_fraction=config.val_fraction, fitted=fitted)

    def prepare_corpus(self, corpus: Any) -> Any:
        if hasattr(corpus, "source_codec"):
            raise UsageError(f"a {self.name} model trains on items or a stream, not pairs: "
                             "use --arch encoder-decoder for pairs")
        return corpus

    def model_config(self, config: TrainConfig, corpus: Any) -> ModelConfig:
        return config.model_config(corpus.codec.size, len(corpus.label_names))

    def build_model(self, config: ModelConfig, corpus: Any = None) -> Any:
        from seqgen.nn.model import build_generator

        return build_generator(config, starts=self.starts_from_label)

    def evaluate(self, ckpt, val, batches, precision: str, beam: int, result,
                 progress=None) -> None:
        """A conditioned model's loss with every item given a wrong label too: how much it
        uses its label."""
        from seqgen.training.evaluation import evaluate_batches

        if len(ckpt.label_names) > 1:
            result.wrong_label_loss = evaluate_batches(ckpt.model, batches, ckpt.label_names, 1,
                                                       precision=precision).loss


class OneToMany(ManyToMany):
    """Unrolls a label (or a learned start) into a whole item, up to its end token."""

    name = "one-to-many"
    starts_from_label = True

    def prepare_corpus(self, corpus: Any) -> Any:
        corpus = super().prepare_corpus(corpus)
        if corpus.items == "stream":
            raise UsageError("a one-to-many model generates whole items: give a corpus of "
                             "items (--items lines or files), not one stream")
        return corpus
