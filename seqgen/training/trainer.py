"""The trainer: truncated backpropagation through time for every architecture.

The loop, as in char-rnn and pytorch/examples word_language_model: walk the batches of an
epoch (a stream cut into ``batch_size`` parallel rows, or items grouped or packed into rows)
``seq_len`` tokens at a time, carry the recurrent state from chunk to chunk and detach it
between them (fresh where an item starts: the label's start state for one-to-many), clip the
global gradient norm, and step AdamW on a warmup-stable-decay schedule (by steps, or by the
clock for a time budget). Validation, snapshots, an exact restore and stop signals (Ctrl-C,
SIGTERM, SIGUSR1: save, then stop) live here too; ``seqgen.training.runs`` starts and resumes
runs.
"""

import json
import math
import signal
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from seqgen import __version__, threads
from seqgen.config import TrainConfig
from seqgen.data.batching import IGNORE, Batches, Chunk
from seqgen.data.codecs.base import Augmentation, get_codec
from seqgen.data.controls import (
    ControlScheme,
    check_controls,
    codec_controls,
    fit_scheme,
    varying_controls,
)
from seqgen.errors import SeqgenError, UsageError
from seqgen.files import append_text, first_line, read_json, read_tensors
from seqgen.nn.build import build_model
from seqgen.nn.cells import (
    compile_unroll,
    detach_state,
    flatten_state,
    get_cell,
    unflatten_state,
)
from seqgen.nn.model import chunk_forward, next_token_loss
from seqgen.signals import STOPPING, TERMINATING, signal_name, stop_at_once, stop_exit_code
from seqgen.task import get_task
from seqgen.training.checkpoint import (
    load_weights,
    optimizer_from_tensors,
    optimizer_to_tensors,
    save_model_files,
    save_tensors,
    tensor_bytes,
    update_trainer_info,
    write_snapshot,
)
from seqgen.training.devices import autocast, check_fits, resolve_device, resolve_precision
from seqgen.training.distributed import ONE_PROCESS, World, process_device
from seqgen.training.evaluation import evaluate_batches, validation_batches, validation_chars
from seqgen.training.schedule import Schedule

Progress = Callable[[dict], None]


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    val_loss: float
    best_val_loss: float
    tokens_per_second: float
    seconds: float = 0.0  # of training (steps and validation), over every session of the run
    val_bits_per_char: float | None = None  # text codecs
    rule_weights: dict[str, float] | None = None  # fitted to the best snapshot (rule_fit)
    loss_per: str = "token"  # what the losses are counted per (a classifier's: a label)


class TrainingInterrupted(SeqgenError):
    """A stop signal (Ctrl-C, SIGTERM, SIGUSR1) stopped training after a resumable checkpoint
    was saved; the exit code is 128 + the signal's number."""

    def __init__(self, signum: int, step: int, run_dir: Path) -> None:
        super().__init__(f"training stopped by {signal_name(signum)} at step {step}; a "
                         f"resumable checkpoint is in {run_dir}/last; resume with: seqgen "
                         f"train --resume {run_dir}")
        self.exit_code = stop_exit_code(signum)


class NonFiniteLoss(SeqgenError):
    """The loss became NaN or infinite; nothing was saved from that point on."""


NO_STEP = 2**62  # "no non-finite loss yet"


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases), as in nanoGPT."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2],
               "weight_decay": config.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr)


@contextmanager
def deferred_interrupt() -> Iterator[Callable[[], int]]:
    """Turn the first stop signal (Ctrl-C, SIGTERM, SIGUSR1) into a flag checked between steps:
    the signal's number, 0 before one comes. A second signal stops at once, unless it repeats
    a SIGTERM or SIGUSR1: a batch scheduler may send it to every process of a job, and
    torchrun passes it on to them too."""
    received = 0

    def handler(signum: int, frame: object) -> None:
        nonlocal received
        if received and not (signum == received and signum in TERMINATING):
            stop_at_once(signum, frame)
        received = received or signum

    try:
        previous = {signum: signal.signal(signum, handler) for signum in STOPPING}
    except ValueError:  # not the main thread: leave the signals alone
        yield lambda: 0
        return
    try:
        yield lambda: received
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)


class Trainer:
    """One training run: the model, its optimizer, the data, and where the run has got to."""

    def __init__(self, corpus: Any, config: TrainConfig, run_dir: Path,
                 world: World = ONE_PROCESS, progress: Progress | None = None) -> None:
        self.corpus, self.run_dir, self.world = corpus, run_dir, world
        self.progress = (progress if self.world.is_main else None) or (lambda event: None)
        self.device = resolve_device(process_device(config.device, self.world))
        torch.manual_seed(config.seed + self.world.rank)  # dropout: one stream per process
        self.task = get_task(config.arch)
        self.corpus = corpus = self.task.prepare_corpus(corpus)
        augmentation = Augmentation(config.transpose, config.stretch) if config.augment else None
        if config.label_balance and not corpus.label_names:
            raise UsageError("--label-balance draws rare labels more often: it needs a corpus "
                             "with labels (--label-from)")
        self.train_data, val_data = corpus.split(config.val_fraction, augmentation=augmentation,
                                                 label_balance=config.label_balance)
        layout = self.train_data.layout(config.batch_size, config.seq_len)
        if layout.rows < self.world.size:
            raise UsageError(f"{layout.rows} rows per batch cannot be shared by "
                             f"{self.world.size} processes: use fewer processes")
        layers, hidden = config.model_size()
        precision = resolve_precision(config.precision, self.device)
        self.notes = [note for note in (layout.note, size_note(config, layers, hidden),
                                        precision_note(config, precision, self.device)) if note]
        self.controls = self.fit_controls(config)
        if self.controls is not None:
            self.train_data = self.train_data.steered(self.controls, self.controls.free)
            val_data = val_data.steered(self.controls, 0.0)  # validated with the true controls
        self.config = config = replace(self.task.settle(config, corpus),
                                       batch_size=layout.rows, seq_len=layout.seq_len,
                                       layers=layers, hidden=hidden, precision=precision)
        self.val_batches = validation_batches(val_data, config).to(self.device).shard(
            self.world.rows())
        val_chars = validation_chars(val_data, config)  # of every process's rows
        self.chars_per_token = None if not val_chars else val_chars / self.world.total(
            self.val_batches.num_targets)  # of the validation text
        self.epoch, self.index = 0, 0
        self.batches: Batches | None = None
        self.total_steps = config.total_steps(len(self.epoch_batches(0)))  # None: time budget
        self.schedule = Schedule.of(config)
        self.elapsed = 0.0  # seconds of training so far (steps and validation)
        self.reserve = 0.0  # seconds the last validation and save took: kept for the last one
        self.clock = 0.0  # what perf_counter() read when the elapsed time was zero
        model_config = self.task.model_config(config, corpus)
        if self.controls is not None:
            model_config = replace(model_config, control_sizes=self.controls.sizes)
        check_fits(model_config, self.device)
        self.model = build_model(model_config, corpus).to(self.device)
        if config.compile:
            compile_unroll(self.model.stack)
        self.forward = self.model  # the module whose forward computes training logits
        if self.world.distributed:  # averages gradients across processes during backward
            self.forward = DistributedDataParallel(self.model)
        self.optimizer = make_optimizer(self.model, config)
        self.step = 0
        self.state = None
        self.best_val_loss = math.inf
        self.val_loss = math.inf
        self.val_bits_per_char: float | None = None
        self.tokens_per_second = 0.0
        self.tokens_seen = torch.zeros((), dtype=torch.long, device=self.device)  # uncounted
        self.tokens_since_log = 0  # counted since the last log, every process's
        # over every session of the run; None: resumed from a snapshot that did not count them
        self.tokens_trained: int | None = 0
        self.first_nonfinite_step = torch.tensor(NO_STEP, device=self.device)
        self.saved_step: int | None = None  # of the last snapshot written (last/)

    # ---- the loop --------------------------------------------------------------------------

    def run(self) -> TrainResult:
        """Train to ``total_steps``, validating and saving on the way. Ctrl-C saves and stops;
        a non-finite loss stops at once, saving nothing from it."""
        for note in self.notes:
            self.emit({"event": "note", "text": note})
        self.emit({"event": "start", "step": self.step, "total_steps": self.total_steps,
                   "time_budget": self.config.time, "elapsed": self.elapsed,
                   "device": str(self.device), "precision": self.config.precision,
                   **({"threads": threads.current().describe()}
                      if self.device.type == "cpu" else {}),
                   "parameters": self.num_parameters(), "loss_per": self.task.loss_per,
                   "train_tokens": self.train_data.num_tokens,
                   "val_tokens": self.world.total(self.val_batches.num_targets)})
        self.model.train()
        with deferred_interrupt() as interrupted:
            running_loss, last_log, last_log_step = 0.0, time.perf_counter(), self.step
            self.clock = time.perf_counter() - self.elapsed
            last = self.finished()
            while not last:
                loss = self.train_step()
                running_loss += loss
                last = self.finished()
                at_log = self.step % self.config.log_interval == 0 or last
                if at_log:
                    self.ensure_finite()
                    now = time.perf_counter()
                    steps = self.step - last_log_step
                    self.count_tokens()
                    self.tokens_per_second = self.tokens_since_log / max(now - last_log, 1e-9)
                    train_loss = float(self.world.sum(running_loss)) / steps
                    self.emit({"event": "train", "step": self.step, "loss": train_loss,
                               "lr": self.optimizer.param_groups[0]["lr"],
                               "tokens_per_s": self.tokens_per_second,
                               "elapsed": self.elapsed, **self.tokens_field(),
                               **self.per_char(train_loss, "bits_per_char")})
                    running_loss, last_log, last_log_step = 0.0, now, self.step
                    self.tokens_since_log = 0
                if self.step % self.config.eval_interval == 0 or last:
                    self.validate_and_save()
                # processes agree on stopping where they synchronise anyway: at logging steps
                stop = interrupted() if not self.world.distributed \
                    else at_log and self.world.highest(interrupted())
                if stop:
                    self.ensure_finite()
                    if self.saved_step != self.step:
                        self.save_last()
                    self.draw_curves()
                    raise TrainingInterrupted(stop, self.step, self.run_dir)
        self.draw_curves()
        self.record_fp32_figure()
        return TrainResult(self.run_dir, self.step, self.val_loss, self.best_val_loss,
                           self.tokens_per_second, self.elapsed, self.val_bits_per_char,
                           self.task.after_training(self), self.task.loss_per)

    def record_fp32_figure(self) -> None:
        """A run that computed in another precision than fp32 records its best snapshot's
        validation loss in fp32 too (``val_loss_fp32`` in its trainer.json): the figure a
        device that cannot compute the run's precision reproduces. The model takes the best
        snapshot's weights (the run is over)."""
        if self.config.precision == "fp32":
            return
        best = self.run_dir / "best"
        load_weights(self.model, best / "model.safetensors", self.device)
        loss = evaluate_batches(self.model, self.val_batches, self.corpus.label_names,
                                world=self.world, precision="fp32").loss
        self.main_writes(lambda: update_trainer_info(best, val_loss_fp32=loss))

    def fit_controls(self, config: TrainConfig) -> ControlScheme | None:
        """The run's music controls (``--controls``), their bins fitted to the training
        pieces as read; ``all``: every one the codec measures that varies in them."""
        if not config.controls:
            return None
        codec = self.corpus.codec
        names = codec_controls(codec) if config.controls == ("all",) else config.controls
        check_controls(codec, names)
        scheme = fit_scheme(codec, self.train_data.written, names, config.control_bins,
                            free=config.control_free)
        varying, constant = varying_controls(scheme)
        if constant and config.controls == ("all",):
            if not varying:
                raise UsageError(f"--controls all: no control varies in the training pieces "
                                 f"({', '.join(constant)} are the same throughout); train "
                                 "without controls")
            scheme = replace(scheme, bins=tuple(b for b in scheme.bins if b.control in varying))
            self.notes.append(f"controls {', '.join(varying)}; {', '.join(constant)} left out: "
                              "the same throughout the training pieces")
        elif constant:
            self.notes.append(f"{', '.join(constant)} has one value throughout the training "
                              "pieces: the model cannot be steered by it")
        return scheme

    def epoch_batches(self, epoch: int) -> Batches:
        """This process's rows of the training chunks of an epoch: shuffled and augmented anew
        for separate pieces. Every process lays out the same global epoch."""
        config = self.config
        return self.train_data.batches(config.batch_size, config.seq_len, epoch, config.seed,
                                       train=True).to(self.device).shard(self.world.rows())

    def next_chunk(self) -> Chunk:
        if self.batches is None:
            self.batches = self.epoch_batches(self.epoch)
        if self.index >= len(self.batches):
            self.epoch, self.index = self.epoch + 1, 0
            self.batches = self.epoch_batches(self.epoch)
        self.index += 1
        return self.batches.chunk(self.index - 1)

    def finished(self) -> bool:
        """Whether the run has taken its steps, or used its time (keeping room for the last
        validation and save); the processes of a distributed run agree on the time."""
        if self.total_steps is not None:
            self.elapsed = time.perf_counter() - self.clock
            return self.step >= self.total_steps
        self.elapsed = self.world.latest(time.perf_counter() - self.clock)
        return self.elapsed + self.reserve >= self.config.time

    def fraction_done(self) -> float:
        """The share of the run done: of its steps, or of its time."""
        if self.total_steps is not None:
            return self.step / self.total_steps
        return self.elapsed / self.config.time

    def train_step(self) -> torch.Tensor:
        """One optimizer step on the next chunk; returns the loss (a tensor, not synced)."""
        threads.adapt()
        for group in self.optimizer.param_groups:
            group["lr"] = self.schedule.rate(self.step, self.fraction_done())
        loss = self.compute_gradients(self.next_chunk())
        if self.config.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
        self.optimizer.step()
        self.step += 1
        return loss

    def compute_gradients(self, chunk: Chunk) -> torch.Tensor:
        """Gradients of the mean loss over the global batch's targets, carrying the state on.

        Each process takes its share of that mean (its loss sum over the global target
        count), scaled by the number of processes since DDP averages their gradients; so the
        gradient is the global batch's whatever the world size, padding included. Returns
        this process's share of the loss.
        """
        self.state = self.model.chunk_state(chunk, self.state)
        with autocast(self.device, self.config.precision):
            logits, state = chunk_forward(self.forward, chunk, self.state)
            loss_sum = next_token_loss(logits, chunk.targets, reduction="sum")
        targets = (chunk.targets != IGNORE).sum()
        self.tokens_seen += self.task.tokens_read(chunk, targets)
        self.first_nonfinite_step = torch.where(
            torch.isfinite(loss_sum) | (self.first_nonfinite_step < NO_STEP),
            self.first_nonfinite_step, self.step + 1)
        loss = loss_sum / self.world.sum(targets).clamp(min=1)
        self.state = detach_state(state)
        self.optimizer.zero_grad(set_to_none=True)
        (loss * self.world.size).backward()
        return loss.detach()

    def ensure_finite(self, val_loss: float = 0.0) -> None:
        """Stop with a one-line error at the first non-finite training loss (or weights, or
        validation loss): before anything is saved from it."""
        step = int(self.world.min(self.first_nonfinite_step))
        if step == NO_STEP and math.isfinite(val_loss) and all(
                bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            return
        where = f"at step {step}" if step != NO_STEP else f"by step {self.step}"
        saved = (f"the last good snapshot is {self.run_dir}/last (step {self.saved_step}); "
                 f"resume it with a lower rate: seqgen train --resume {self.run_dir} --lr "
                 f"{self.config.lr / 10:g}" if self.saved_step is not None
                 else "no snapshot was saved")
        raise NonFiniteLoss(f"the loss became NaN or infinite {where}: the learning rate "
                            f"({self.config.lr:g}) is likely too high (lower --lr, or keep "
                            f"--clip on); {saved}")

    def validate_and_save(self) -> None:
        started = time.perf_counter()
        self.val_loss = evaluate_batches(self.model, self.val_batches, self.corpus.label_names,
                                         world=self.world, precision=self.config.precision).loss
        self.ensure_finite(self.val_loss)
        improved = self.val_loss < self.best_val_loss
        self.best_val_loss = min(self.best_val_loss, self.val_loss)
        per_char = self.per_char(self.val_loss, "val_bits_per_char")
        self.val_bits_per_char = per_char.get("val_bits_per_char")
        self.count_tokens()
        self.emit({"event": "val", "step": self.step, "val_loss": self.val_loss,
                   "best_val_loss": self.best_val_loss, **self.tokens_field(), **per_char})
        if improved:
            self.main_writes(self.save_best)
        self.save_last()
        self.reserve = time.perf_counter() - started

    def count_tokens(self) -> None:
        """Add the tokens every process has read since the last count to the run's counts
        (every process takes part)."""
        tokens = int(self.world.sum(self.tokens_seen).item())
        self.tokens_seen.zero_()
        self.tokens_since_log += tokens
        if self.tokens_trained is not None:
            self.tokens_trained += tokens

    def tokens_field(self) -> dict[str, int]:
        """``{"tokens_trained": n}``, the tokens trained on so far, for an event or a snapshot;
        empty where the count is unknown."""
        return {} if self.tokens_trained is None else {"tokens_trained": self.tokens_trained}

    def per_char(self, loss: float, key: str) -> dict[str, float]:
        """``{key: bits per character}`` of a loss in nats per token, at the validation text's
        characters per token (with ``chars_per_token``, for plots); none without text."""
        if not self.chars_per_token:
            return {}
        return {key: loss / math.log(2) / self.chars_per_token,
                "chars_per_token": self.chars_per_token}

    def draw_curves(self) -> None:
        """curves.png beside metrics.jsonl (main process); without matplotlib, a warning."""
        if not (self.config.curves and self.world.is_main):
            return
        from seqgen.media.plots import NO_MATPLOTLIB, curves_png

        try:
            curves_png([self.run_dir], self.run_dir / "curves.png")
        except UsageError as exc:
            if str(exc) != NO_MATPLOTLIB:
                raise
            warnings.warn(f"curves.png not drawn: {exc}", stacklevel=2)

    def emit(self, event: dict) -> None:
        """Send an event to the progress callback and append metrics to metrics.jsonl (the
        main process only: the figures are already summed over every process)."""
        if event["event"] in ("train", "val"):
            self.main_writes(lambda: append_text(self.run_dir / "metrics.jsonl", json.dumps(
                {**event, "time": time.time()}) + "\n"))
        self.progress(event)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    # ---- checkpoints -----------------------------------------------------------------------

    def checkpoint_config(self) -> dict:
        spec, codec_spec = get_cell(self.config.cell), get_codec(self.corpus.format)
        own_fields, corpus_fields = self.task.checkpoint_fields(self.corpus)
        return {
            "format": 1,
            "seqgen_version": __version__,
            "model": asdict(self.model.config),
            "cell": {"name": spec.name, "plugin": spec.plugin,
                     "distribution": spec.distribution, "version": spec.version},
            "codec": self.corpus.codec.to_json(),
            **own_fields,
            "codec_plugin": {"format": codec_spec.name, "distribution": codec_spec.distribution,
                             "version": codec_spec.version},
            "labels": list(self.corpus.label_names),
            **({"controls": self.controls.to_json()} if self.controls is not None else {}),
            "corpus": {"path": str(self.corpus.path), "format": self.corpus.format,
                       "val_fraction": self.config.val_fraction, **corpus_fields},
            "training": asdict(self.config),
        }

    def trainer_info(self) -> dict:
        return {"step": self.step, "epoch": self.epoch, "index": self.index,
                "total_steps": self.total_steps, "elapsed": self.elapsed,
                "val_loss": self.val_loss, **self.tokens_field(),
                "best_val_loss": self.best_val_loss, "world_size": self.world.size}

    def main_writes(self, write: Callable[[], object]) -> None:
        """Run ``write`` on the main process; where it fails there (a full disk), every
        process stops with it."""
        with self.world.main_first():
            if self.world.is_main:
                write()

    def save_best(self) -> None:
        """The snapshot of the lowest validation loss so far: the model (main process)."""
        write_snapshot(self.run_dir, "best", lambda folder: save_model_files(
            folder, self.model, self.checkpoint_config(), self.trainer_info()), self.step,
            tensor_bytes(self.model.state_dict()))

    def save_last(self) -> None:
        """Save everything needed to continue exactly: weights, optimizer, carried state, RNG.

        Every process takes part: the carried state of the whole global batch and each
        process's random state are gathered, and the main process writes them.
        """
        self.count_tokens()
        carried, state_spec = flatten_state(self.state) if self.state is not None else ([], None)
        rng = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        shares = self.world.gather(([t.cpu() for t in carried], rng))
        self.main_writes(lambda: self.write_last(shares, state_spec))
        self.saved_step = self.step

    def write_last(self, shares: list[tuple[list[torch.Tensor], dict[str, torch.Tensor]]],
                   state_spec: object) -> None:
        """The main process's part of ``save_last``: the resumable snapshot ``last``."""
        extra = {f"carry.{i}": interleave_rows([share[0][i] for share in shares])
                 for i in range(len(shares[0][0]))}
        for rank, (_, states) in enumerate(shares):
            extra.update({rng_key(kind, rank): t for kind, t in states.items()})
        optimizer_tensors, param_groups = optimizer_to_tensors(self.optimizer)

        def fill(folder: Path) -> None:
            info = {**self.trainer_info(), "param_groups": param_groups, "state_spec": state_spec}
            save_model_files(folder, self.model, self.checkpoint_config(), info)
            save_tensors(folder / "optimizer.safetensors", optimizer_tensors)
            save_tensors(folder / "state.safetensors", extra)

        write_snapshot(self.run_dir, "last", fill, self.step,
                       tensor_bytes(self.model.state_dict(), optimizer_tensors, extra))

    def restore(self, folder: Path) -> None:
        """Continue from a ``last`` snapshot exactly where it stopped."""
        info = read_json(folder / "trainer.json")
        load_weights(self.model, folder / "model.safetensors", self.device)
        optimizer, extra = (read_tensors(folder / name) for name in ("optimizer.safetensors",
                                                                     "state.safetensors"))
        try:
            optimizer_from_tensors(self.optimizer, optimizer, info["param_groups"])
            self.restore_state(info, extra)
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
            raise SeqgenError(f"{folder} is damaged: cannot resume from it "
                              f"({type(exc).__name__}: {first_line(exc)})") from None
        self.step, self.epoch, self.index = info["step"], info["epoch"], info["index"]
        self.best_val_loss = info["best_val_loss"]
        self.val_loss = info["val_loss"]
        self.elapsed = info.get("elapsed", 0.0)
        self.tokens_trained = info.get("tokens_trained")
        self.saved_step = self.step

    def restore_state(self, info: dict, extra: dict[str, torch.Tensor]) -> None:
        """The carried recurrent state of every row, and this process's random state."""
        if info["state_spec"] is not None:
            carried = [extra[f"carry.{i}"][self.world.rows()].to(self.device)
                       for i in range(len([k for k in extra if k.startswith("carry.")]))]
            self.state = unflatten_state(carried, info["state_spec"])
        saved_world = info.get("world_size", 1)
        if saved_world == self.world.size:
            torch.set_rng_state(extra[rng_key("cpu", self.world.rank)])
            if self.device.type == "cuda" and rng_key("cuda", self.world.rank) in extra:
                torch.cuda.set_rng_state(extra[rng_key("cuda", self.world.rank)], self.device)
        elif self.world.is_main:
            warnings.warn(f"resuming a run of {saved_world} process(es) with "
                          f"{self.world.size}: the data position carries over exactly, but "
                          "dropout draws new random numbers", stacklevel=3)


def rng_key(kind: str, rank: int) -> str:
    """Where a process's random state is saved: ``rng.cpu`` for the main process (and any
    single-process run), ``rng.cpu.1`` and so on for the others."""
    return f"rng.{kind}" if rank == 0 else f"rng.{kind}.{rank}"


def interleave_rows(shares: list[torch.Tensor]) -> torch.Tensor:
    """The global batch's rows from the processes' interleaved shares (``World.rows``)."""
    rows = sum(share.size(0) for share in shares)
    whole = shares[0].new_empty(rows, *shares[0].shape[1:])
    for rank, share in enumerate(shares):
        whole[rank::len(shares)] = share
    return whole


def size_note(config: TrainConfig, layers: int, hidden: int) -> str:
    """Why a run's model has its size, when seqgen chose it for the time budget."""
    if config.layers is not None or config.hidden is not None or config.time is None:
        return ""
    return (f"model {layers} x {hidden}: the size that trains best in {config.time:g} s on a "
            "small CPU (--layers and --hidden choose another)")


def precision_note(config: TrainConfig, precision: str, device: torch.device) -> str:
    """What precision ``auto`` chose, and why."""
    if config.precision != "auto":
        return ""
    if precision == "bf16":
        return (f"precision bf16: this {device.type} computes bfloat16 natively (--precision "
                "fp32 or bf16 chooses)")
    return f"precision fp32: this {device.type} does not compute bfloat16 natively"
