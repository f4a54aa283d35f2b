"""Labels of items: from the file name, the parent folder, or a CSV/JSON file mapping items to
labels (``--label-from stem|folder|FILE``)."""

import csv
from pathlib import Path

from seqgen.errors import UsageError
from seqgen.files import read_json


def label_reader(label_from: str, root: Path, files: list[Path]):
    """A function from an item's file (one of ``files``) to its label."""
    if label_from == "stem":
        return lambda file: file.stem
    if label_from == "folder":
        check_labelled_folders(root, files)
        return lambda file: file.parent.name
    mapping = read_label_file(Path(label_from))

    def from_mapping(file: Path) -> str:
        keys = (str(file.relative_to(root)) if file != root else file.name, file.name, file.stem)
        for key in keys:
            if key in mapping:
                return mapping[key]
        raise UsageError(f"{label_from} gives no label for {keys[0]}; add a line for it")

    return from_mapping


def check_labelled_folders(root: Path, files: list[Path]) -> None:
    """``--label-from folder`` needs sub-folders: files that all lie in the corpus folder itself
    would all get its one label, which conditions nothing."""
    if all(file == root or file.parent == root for file in files):
        raise UsageError(f"--label-from folder: every file of {root} lies in one folder, so all "
                         "would get one label, which conditions nothing; put each label's "
                         f"files in a sub-folder named after it ({root}/LABEL/FILE), or use "
                         "--label-from stem for a file per label")


def read_label_file(path: Path) -> dict[str, str]:
    """``{item: label}`` from a JSON object or a two-column CSV (item,label; a header is ok)."""
    if not path.is_file():
        raise UsageError(f"--label-from must be stem, folder or a CSV/JSON file; "
                         f"{path} is none of them")
    try:
        if path.suffix.lower() == ".json":
            return {str(k): str(v) for k, v in read_json(path).items()}
        text = path.read_text(encoding="utf-8")
        rows = [row for row in csv.reader(text.splitlines()) if row]
        if any(len(row) != 2 for row in rows):
            raise ValueError("expected two columns: item,label")
        return {item.strip(): label.strip() for item, label in rows}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"cannot read the labels in {path}: {exc}") from None
