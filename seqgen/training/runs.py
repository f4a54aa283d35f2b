"""Starting and resuming training runs: the run folder and the process world are settled here,
once, and handed to the trainer.

A run folder holds one run: ``check_run_dir`` refuses, before any work, a folder that cannot
be written or that holds an earlier run (unless it is to be replaced); the main process holds
its lock while the run writes. Under torchrun every process joins the world when the run
starts and leaves it with the others when it ends (``joined_world``).
"""

import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import MISSING, asdict, fields, replace
from pathlib import Path
from typing import Any

from seqgen.config import TrainConfig
from seqgen.errors import SeqgenError, UsageError
from seqgen.files import check_writable_folder, read_json
from seqgen.task import get_task
from seqgen.training.checkpoint import is_bundled, resumable_snapshot, run_lock
from seqgen.training.distributed import World, joined_world
from seqgen.training.trainer import Progress, Trainer, TrainResult

# Settings that shape the model or the batches: a resumed run must keep them.
FIXED_ON_RESUME = ("cell", "layers", "hidden", "embedding", "dropout", "tie_weights",
                   "cell_options", "arch", "format", "items", "label_from", "label_size",
                   "codec_options", "augment", "transpose", "stretch", "batch_size", "seq_len",
                   "val_fraction", "seed", "encoder_layers", "encoder_hidden",
                   "bidirectional", "attention", "input_feeding", "clock", "source_track",
                   "shared_vocab", "pool", "controls", "control_bins", "control_free")


def load_run_corpus(path: str | Path, config: TrainConfig, *, strict: bool = False,
                    progress: Any = None) -> Any:
    """The corpus a run of ``config`` trains on, as its task reads it (``progress``: told of
    each file read)."""
    return get_task(config.arch).load_corpus(path, config, strict=strict, progress=progress)


def default_run_dir(corpus: str | Path) -> Path:
    """``runs/<corpus name>``: the folder's name, or a file's name without suffix (the
    bundled models live apart, in ``checkpoints/``)."""
    path = Path(corpus)
    return Path("runs") / (path.stem if path.is_file() else path.resolve().name)


SNAPSHOT_FOLDERS = ("best", "last", "best.old", "last.old")


def run_leftovers(run_dir: Path) -> list[Path]:
    """What an earlier run left in a run folder."""
    names = (*SNAPSHOT_FOLDERS, "metrics.jsonl", "curves.png")
    return [run_dir / name for name in names if (run_dir / name).exists()]


def check_no_snapshot_left(run_dir: Path) -> None:
    """A folder that holds what a run left but no snapshot (a run killed, or stopped by an
    error, before its first save) cannot be resumed: say so, and how to start again."""
    leftovers = run_leftovers(run_dir)
    if leftovers and not any(path.name in SNAPSHOT_FOLDERS for path in leftovers):
        raise UsageError(f"{run_dir} holds a run stopped before its first snapshot "
                         f"({', '.join(path.name for path in leftovers)}, no best/ or last/): "
                         f"there is nothing to resume; start again with seqgen train CORPUS "
                         f"--out {run_dir} --overwrite, or pick another --out")


def check_any_snapshot(run_dir: Path) -> None:
    """A folder with no snapshot at all (no best/ or last/: not a run folder, or one emptied)
    can neither be resumed nor sampled: say so, and how to start a run there."""
    if not any((run_dir / name / "config.json").is_file() for name in SNAPSHOT_FOLDERS):
        raise UsageError(f"--resume {run_dir}: it holds no snapshot (no best/ or last/ with a "
                         "config.json), so there is nothing to resume: start a new run with "
                         f"seqgen train CORPUS --out {run_dir}")


def check_run_dir(run_dir: Path, overwrite: bool, config: TrainConfig | None = None,
                  corpus: str | Path | None = None) -> None:
    """Before any work: the run folder can be written, is no bundled model, and holds no
    earlier run unless it is to be replaced. ``config`` and ``corpus``, the run asked for,
    tell whether resuming the earlier run is a way on."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--out {run_dir} is a file; a run is a folder: choose another --out")
    if is_bundled(run_dir):
        refused = f"--overwrite would destroy {run_dir}, a model bundled with seqgen" \
            if overwrite else \
            f"{run_dir} holds a model bundled with seqgen, which a new run must not replace"
        raise UsageError(f"{refused}: train into another folder with --out "
                         f"{free_folder(run_dir)}")
    check_writable_folder(run_dir, "--out")
    if run_leftovers(run_dir) and not overwrite:
        check_no_snapshot_left(run_dir)
        resuming = [f"continue it with --resume {run_dir}"] \
            if resumes_as_asked(run_dir, config, corpus) else []
        raise UsageError(f"{run_dir} already holds a training run: "
                         f"{', '.join([*resuming, 'replace it with --overwrite'])}, "
                         "or pick another --out DIR")


def free_folder(run_dir: Path) -> Path:
    """A folder beside ``run_dir`` that does not exist yet: ``NAME-2``, ``NAME-3``..."""
    run_dir = run_dir if run_dir.name else run_dir.resolve()  # "." has no name
    number = 2
    while (candidate := run_dir.with_name(f"{run_dir.name}-{number}")).exists():
        number += 1
    return candidate


def resumes_as_asked(run_dir: Path, config: TrainConfig | None,
                     corpus: str | Path | None) -> bool:
    """Whether ``--resume run_dir`` goes on with the run asked for: the folder has a
    resumable snapshot, trained on the same corpus, whose fixed settings the new run's (those
    given, away from their defaults) do not change."""
    folder = resumable_snapshot(run_dir)
    if folder is None:
        return False
    try:
        recorded = read_json(folder / "config.json")
        stored, path = TrainConfig(**recorded["training"]), Path(recorded["corpus"]["path"])
        if config is not None:
            resumed_config(stored, given_settings(config), run_dir)
    except (SeqgenError, TypeError):  # damaged, of another release, or a change it refuses
        return False
    return corpus is None or path.resolve() == Path(corpus).resolve()


def given_settings(config: TrainConfig) -> dict[str, Any]:
    """The settings of ``config`` away from their defaults."""
    defaults = {f.name: f.default_factory() if f.default_factory is not MISSING else f.default
                for f in fields(TrainConfig)}
    return {name: value for name, value in asdict(config).items() if value != defaults[name]}


def clear_run_dir(run_dir: Path, overwrite: bool, remove: bool = True) -> None:
    """Refuse to train over an earlier run unless asked to replace it (every process checks,
    one removes)."""
    check_run_dir(run_dir, overwrite)
    if not remove:
        return
    for path in run_leftovers(run_dir):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def train(corpus: str | Path | Any, config: TrainConfig | None = None,
          out_dir: str | Path | None = None, *, overwrite: bool = False,
          progress: Progress | None = None, world: World | None = None) -> TrainResult:
    """Train a new generator on a corpus (a path, or a corpus already loaded) into
    ``out_dir`` (default ``runs/<corpus name>``). Under torchrun the processes join
    their world here, unless the caller has joined it (``world``)."""
    config = config or TrainConfig()
    run_dir = Path(out_dir) if out_dir is not None else default_run_dir(
        corpus if isinstance(corpus, str | Path) else corpus.path)
    check_run_dir(run_dir, overwrite, config,
                  corpus if isinstance(corpus, str | Path) else corpus.path)
    with joined_world(config.device, world) as world, locked_by_main(run_dir, world):
        clear_run_dir(run_dir, overwrite, remove=world.is_main)
        if isinstance(corpus, str | Path):
            with world.main_first():
                corpus = load_run_corpus(corpus, config)
        return Trainer(corpus, config, run_dir, world, progress).run()


@contextmanager
def locked_by_main(run_dir: Path, world: World) -> Iterator[None]:
    """The run folder's lock, held by the main process (the one that writes); if it cannot
    be had, every process stops."""
    with ExitStack() as stack:
        with world.main_first():
            if world.is_main:
                stack.enter_context(run_lock(run_dir))
        yield


def resume(run_dir: str | Path, changes: dict | None = None,
           corpus: str | Path | Any = None, *,
           progress: Progress | None = None,
           world: World | None = None) -> TrainResult:
    """Continue a run from its ``last`` snapshot. ``changes`` may set steps, epochs, device...
    Under torchrun the processes join their world here, unless the caller has (``world``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"--resume {run_dir}: no run folder there; give the folder a run "
                         "was trained into")
    device = (changes or {}).get("device", "auto")
    with joined_world(device, world) as world, locked_by_main(run_dir, world):
        check_no_snapshot_left(run_dir)
        folder = resumable_snapshot(run_dir)
        if folder is None:
            check_any_snapshot(run_dir)
            raise SeqgenError(f"{run_dir} has no resumable snapshot (last/ is missing); "
                              "it can be sampled but not resumed")
        recorded = read_json(folder / "config.json")
        stored = TrainConfig(**{"clock": False, **recorded["training"]})  # none before clocks
        config = resumed_config(stored, dict(changes or {}), run_dir)
        if getattr(corpus, "val_fraction", None) not in (None, config.val_fraction):
            corpus = corpus.path  # encoded for another split: read it for the run's
        task = get_task(config.arch)
        if corpus is None or isinstance(corpus, str | Path):
            with world.main_first():
                corpus = task.load_corpus(corpus or recorded["corpus"]["path"],
                                          replace(config, format=recorded["corpus"].get("format")))
        corpus = task.prepare_corpus(corpus)
        own_fields, _ = task.checkpoint_fields(corpus)
        if corpus.codec.to_json() != recorded["codec"] or any(
                recorded.get(name) != value for name, value in own_fields.items()):
            raise UsageError(f"the corpus {corpus.path} has changed since {run_dir} was trained "
                             "(its vocabulary differs); resume needs the same corpus")
        trainer = Trainer(corpus, config, run_dir, world, progress)
        trainer.restore(folder)
        return trainer.run()


def resumed_config(stored: TrainConfig, changes: dict, run_dir: Path) -> TrainConfig:
    """The stored settings with the changes a resumed run may make."""
    fixed = [k for k in FIXED_ON_RESUME if k in changes and changes[k] != getattr(stored, k)]
    if fixed:
        raise UsageError(f"cannot change {', '.join(fixed)} when resuming {run_dir}; "
                         "start a new run with --out instead")
    if {"steps", "epochs", "time"} & set(changes):  # a new length replaces the old one
        stored = replace(stored, steps=None, epochs=None, time=None)
    known = {f.name for f in fields(TrainConfig)}
    return replace(stored, **{k: v for k, v in changes.items() if k in known})
