"""Checkpoints: folders of safetensors and JSON, written atomically, loaded without running code.

A training run's folder holds ``metrics.jsonl`` and two snapshots, each a complete checkpoint:

    RUN/best/   config.json, model.safetensors, trainer.json   (lowest validation loss)
    RUN/last/   ... plus optimizer.safetensors, state.safetensors  (resumable)

An encoder-decoder whose codec has rules also has ``rules.json`` beside its model: the rules'
weights fitted to it once training ends (``seqgen.training.rule_fit``).

A snapshot is written into a temporary folder and then renamed into place, so killing the
process at any moment, or a full disk, leaves the previous snapshot whole.
"""

import json
import math
import os
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_file, save_model
from torch import Tensor, nn

from seqgen.config import ModelConfig, TrainConfig
from seqgen.data.codecs.base import FileCodec, TextCodec, codecs, load_codec
from seqgen.data.controls import ControlScheme
from seqgen.errors import SeqgenError, UsageError
from seqgen.files import NoSpaceLeft, atomic_write, first_line, out_of_space, read_json
from seqgen.nn.build import build_model
from seqgen.nn.cells import cells
from seqgen.nn.constraints import RuleWeights
from seqgen.plugins import warn_on_version_change
from seqgen.task import Task, get_task

SNAPSHOTS = ("best", "last")
RULES = "rules.json"
BUNDLED = "BUNDLED"  # the file that marks a model bundled with seqgen: no run replaces it


def is_bundled(folder: Path) -> bool:
    """Whether a folder holds a model bundled with seqgen (it has the ``BUNDLED`` marker)."""
    return (folder / BUNDLED).is_file()


def resumable_snapshot(run_dir: Path) -> Path | None:
    """The snapshot ``--resume`` continues from: ``last/`` (or ``last.old/`` between the
    renames of a swap) with its optimizer state; None where there is none."""
    for folder in (run_dir / "last", run_dir / "last.old"):
        if (folder / "config.json").is_file() and (folder / "optimizer.safetensors").is_file():
            return folder
    return None


@dataclass
class Checkpoint:
    """A loaded snapshot: the model, its codec, and everything recorded with it."""

    path: Path
    model: nn.Module
    codec: TextCodec | FileCodec  # an encoder-decoder's target codec
    config: dict
    trainer: dict
    source_codec: TextCodec | FileCodec | None = None  # an encoder-decoder's source codec
    rule_weights: RuleWeights | None = None  # the codec's rules' fitted weights (rules.json)

    @property
    def task(self) -> Task:
        """The task the model was trained for (its shape)."""
        return get_task(self.model.config.arch)

    @property
    def makes_items(self) -> bool:
        """The model writes whole items (it has start and end tokens), not one stream."""
        return bool(self.codec.specials)

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(self.config.get("labels", ()))

    def training_config(self) -> TrainConfig:
        """The run's settings, as recorded (a run before precisions computed in fp32)."""
        try:
            return TrainConfig(**{"precision": "fp32", **self.config["training"]})
        except (TypeError, KeyError) as exc:
            raise SeqgenError(f"{self.path}/config.json is damaged: its training {exc}") \
                from None

    def split(self, corpus: Any) -> tuple[Any, Any]:
        """The training and validation data of ``corpus`` as this checkpoint's run split
        them, in its vocabularies and label ids."""
        train, val = corpus.split(self.training_config().val_fraction, codec=self.codec,
                                  label_names=self.label_names, source_codec=self.source_codec)
        if self.controls is None:
            return train, val
        return train.steered(self.controls, 0.0), val.steered(self.controls, 0.0)

    @property
    def controls(self) -> ControlScheme | None:
        """The music controls the model was trained with (their bins), or None."""
        recorded = self.config.get("controls")
        return None if recorded is None else ControlScheme.from_json(recorded)

    def load_corpus(self, path: str | Path | None = None) -> Any:
        """The corpus this checkpoint was trained on (or ``path``), read as its run read it;
        a codec learnt from the text is the checkpoint's."""
        recorded = self.config.get("corpus", {})
        corpus_path = Path(path or recorded.get("path", ""))
        if path is None and not corpus_path.exists():
            raise SeqgenError(f"the corpus this checkpoint was trained on ({corpus_path}) is "
                              "not there; pass --corpus PATH")
        settings = replace(self.training_config(), format=recorded.get("format"))
        if path is not None:
            self.check_labelled(Path(path), settings.label_from)
        fitted = self.codec if self.codec.fits_training_split else None
        return self.task.load_corpus(corpus_path, settings, fitted=fitted)

    def check_labelled(self, path: Path, label_from: str | None) -> None:
        """A corpus given for a model trained on labelled items says where its labels come
        from, as the training corpus did (its run's --label-from, else its seqgen.json):
        one that does not is a usage error saying how to lay it out, before it is read."""
        from seqgen.data.declaration import DECLARATION, read_declaration

        if not self.label_names or label_from is not None or \
                "label_from" in read_declaration(path):
            return
        trained_on = Path(self.config.get("corpus", {}).get("path", ""))
        how = read_declaration(trained_on).get("label_from") if trained_on.is_dir() else None
        names = ", ".join(self.label_names[:3]) + (", ..." if len(self.label_names) > 3 else "")
        example = (f'{{"label_from": "{how}"}}, as {trained_on / DECLARATION} does'
                   if how in ("stem", "folder") else
                   '{"label_from": "stem"} (each file\'s name is its items\' label), '
                   '"folder" (its folder\'s) or a CSV/JSON file mapping files to labels')
        raise UsageError(f"{self.path} was trained on labelled items ({len(self.label_names)} "
                         f"labels: {names}), and the corpus {path} has no labels: give a folder "
                         "laid out as the training corpus was, its own "
                         f"{DECLARATION} declaring {example}")


# ---- writing ---------------------------------------------------------------------------------


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_snapshot(run_dir: Path, name: str, fill: Callable[[Path], None], step: int,
                   size: int) -> Path:
    """Write the snapshot of ``step`` with ``fill(folder)`` into a temporary folder, then swap
    it into place. ``size``: about the bytes it takes (``tensor_bytes``), which a full disk's
    error gives."""
    dest = run_dir / name
    tmp = run_dir / f".{name}.tmp-{os.getpid()}"
    old = run_dir / f"{name}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        fill(tmp)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if not out_of_space(exc):
            raise
        raise NoSpaceLeft(f"no space left in {run_dir}: the snapshot of step {step} needs about "
                          f"{size / 1e6:.1f} MB; {kept_snapshot(run_dir)}") from None
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)  # between these two renames, loaders fall back to NAME.old
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest


def kept_snapshot(run_dir: Path) -> str:
    """The snapshot a run folder keeps after a failed save, and how to go on: for a message."""
    for name, then in (("last", f"resume with: seqgen train --resume {run_dir}"),
                       ("best", "start again (--overwrite)")):
        if (run_dir / name / "trainer.json").exists():
            step = read_json(run_dir / name / "trainer.json")["step"]
            return (f"the last snapshot kept is {run_dir / name} (step {step}): free some "
                    f"space, then {then}")
    return "no snapshot was kept: free some space, then start again (--overwrite)"


def tensor_bytes(*groups: dict[str, Tensor]) -> int:
    """The bytes of the tensors of ``groups``: about what a snapshot of them takes on disk."""
    return sum(t.numel() * t.element_size() for group in groups for t in group.values())


def write_rule_fit(folder: Path, fit: dict) -> None:
    """Add (or replace) a snapshot's ``rules.json``, whole or not at all."""
    with atomic_write(folder / RULES) as tmp:
        write_json(tmp, fit)


def update_trainer_info(folder: Path, **values: object) -> None:
    """Add ``values`` to a snapshot's trainer.json (written whole or not at all)."""
    info = {**read_json(folder / "trainer.json"), **values}
    with atomic_write(folder / "trainer.json") as tmp:
        write_json(tmp, info)


def save_model_files(folder: Path, model: nn.Module, config: dict, trainer: dict) -> None:
    write_json(folder / "config.json", config)
    save_model(model, str(folder / "model.safetensors"))
    write_json(folder / "trainer.json", trainer)


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], list]:
    """An optimizer's state as flat tensors plus its JSON-able parameter groups."""
    state_dict = optimizer.state_dict()
    tensors = {f"{index}.{key}": value.contiguous()
               for index, state in state_dict["state"].items() for key, value in state.items()}
    return tensors, state_dict["param_groups"]


def optimizer_from_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor],
                           param_groups: list) -> None:
    state: dict[int, dict[str, Tensor]] = defaultdict(dict)
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state[int(index)][key] = value
    optimizer.load_state_dict({"state": dict(state), "param_groups": param_groups})


def save_tensors(path: Path, tensors: dict[str, Tensor]) -> None:
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path))


# ---- locking ---------------------------------------------------------------------------------


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder for one writer; a second ``seqgen train`` into it is an error.

    The lock is an OS file lock (``filelock``'s: flock, or LockFileEx on Windows), released by
    the OS when the process ends however it ends; the file names the holder's pid after its
    first byte, the one Windows locks. A folder it made that holds nothing but the lock at
    the end (a run refused before it wrote anything) is removed.
    """
    from filelock import lock_descriptor, unlock_descriptor

    made = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "a+", encoding="ascii") as handle:
        if not lock_descriptor(handle.fileno(), blocking=False):
            handle.seek(1)
            holder = handle.read().strip() or "another process"
            raise SeqgenError(f"{run_dir} is being written by another seqgen train ({holder}); "
                              "wait for it to finish or use --out for another folder")
        handle.truncate(0)
        handle.write(f" pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            unlock_descriptor(handle.fileno())
            handle.close()  # before the file can be removed (Windows)
            if made and [p.name for p in run_dir.iterdir()] == [".lock"]:
                (run_dir / ".lock").unlink()
                run_dir.rmdir()


# ---- reading ---------------------------------------------------------------------------------


def find_snapshot(path: str | Path, prefer: str = "best") -> Path:
    """The snapshot folder a path means: itself, or a run folder's best (or last) snapshot."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"no checkpoint at {path}: train one with "
                         f"`seqgen train CORPUS --out {path}`")
    if (path / "config.json").exists():
        return path
    order = [prefer] + [s for s in SNAPSHOTS if s != prefer]
    for name in order:
        for candidate in (path / name, path / f"{name}.old"):
            if (candidate / "config.json").exists():
                return candidate
    raise SeqgenError(f"{path} is not a complete seqgen checkpoint: it has no config.json "
                      "and no best/ or last/ snapshot")


def model_config_from(config: dict, path: Path) -> ModelConfig:
    """The model config recorded in a checkpoint, with a clear error for a missing plugin."""
    cell = config["cell"]
    try:
        model_config = ModelConfig(**config["model"])
    except TypeError as exc:
        raise SeqgenError(f"{path}/config.json is damaged: its model {exc}") from None
    registry = cells()
    if model_config.cell not in registry:
        raise SeqgenError(
            f"this checkpoint needs the cell {model_config.cell!r} from the package "
            f"{cell.get('distribution')} {cell.get('version')}, which is not installed: "
            f"pip install {cell.get('distribution')}"
        )
    warn_on_version_change("cell", cell, registry[model_config.cell])
    return model_config


def load_weights(model: nn.Module, weights: Path, device: torch.device | str) -> None:
    """Load a snapshot's weights into ``model``, with a one-line error when they are missing
    or damaged."""
    if not weights.is_file():
        raise SeqgenError(f"{weights} is missing")
    try:
        load_model(model, str(weights), device=str(device))
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise SeqgenError(f"{weights} is damaged: {first_line(exc)}") from None


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu",
                    prefer: str = "best") -> Checkpoint:
    """Load a snapshot (or a run folder's best one) onto ``device``. Runs no code from the files."""
    folder = find_snapshot(path, prefer)
    config = read_json(folder / "config.json")
    trainer = read_json(folder / "trainer.json")
    model = build_model(model_config_from(config, folder))
    load_weights(model, folder / "model.safetensors", device)
    try:
        codec = load_codec(config["codec"], config.get("codec_plugin"))
        provider = config.get("codec_plugin", {})
        if provider.get("format") in codecs():
            warn_on_version_change("codec", provider, codecs()[provider["format"]])
        source_codec = load_codec(config["source_codec"], provider) \
            if "source_codec" in config else None
    except (KeyError, ValueError, TypeError) as exc:
        raise SeqgenError(f"{folder}/config.json is damaged: bad codec ({exc})") from None
    return Checkpoint(folder, model.to(device), codec, config, trainer, source_codec,
                      read_rule_weights(folder / RULES))


def read_rule_weights(path: Path) -> RuleWeights | None:
    """The weights a ``rules.json`` records (rules it does not name weigh nothing, and the
    network 1 where it is not named); None without one."""
    if not path.exists():
        return None
    fit = read_json(path)
    weights, network = fit.get("weights"), fit.get("network_weight", 1.0)
    if not isinstance(weights, dict) or not all(map(is_finite_number, weights.values())):
        raise SeqgenError(f"{path} is damaged: its weights are not numbers by rule name")
    if not is_finite_number(network) or network <= 0:
        raise SeqgenError(f"{path} is damaged: its network_weight is not a number above 0")
    return RuleWeights(dict(weights), default=0.0, network=float(network))


def is_finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
