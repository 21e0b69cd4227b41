"""Labelled local folders: which file belongs to which split and class, and which files were left out and why.

A folder is labelled by class subfolders (`real/`, `fake/`), by file name (`real_*` / `fake_*`) or by a `metadata.csv`
(`file_name` or `file`, and `label` columns, paths relative to the folder), optionally under split folders named
`train/`, `val/`, `valid/`, `validation/` or `test/` in any case. A folder without split folders becomes one split
(`test` by default: such examples are meant for evaluation). No file is dropped without a name: unlabelled,
unreadable and misplaced files, videos among images, and files `metadata.csv` lists but the folder lacks are listed
in `FolderDataset.skipped` with their reason. Evaluation, training and `scripts/push_dataset.py` all read folders here.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from PIL import Image

from .configuration_deepfake_detector import LABELS
from .errors import DatasetFolderError
from .images import IMAGE_SUFFIXES, find_images
from .video import VIDEO_SUFFIXES, is_video

LABEL_NAMES = list(LABELS)
"""The `label` ClassLabel's names, in the order of the model's `id2label` (0 = fake, 1 = real)."""
SPLITS = ("train", "validation", "test")
SPLIT_NAMES = {"train": "train", "val": "validation", "valid": "validation", "validation": "validation", "test": "test"}
"""Split names (folder or Hub split, case-insensitive) and the split each one is."""
VIDEO_COLUMN = "video"
"""The column of video file paths in a dataset built from a folder of videos."""
METADATA_FILE = "metadata.csv"
FILE_COLUMNS = ("file_name", "file")
"""The columns of `metadata.csv` that name a file: imagefolder's and DFDC's."""
CLASS_FOLDERS, NAME_PREFIX = "class subfolders (real/, fake/)", "file name prefix (real_*, fake_*)"
"""How a file's label was known (the layout a dataset card names), with `METADATA_FILE`."""
UNLABELLED = "no real_/fake_ prefix in its name and not under a real/ or fake/ folder"
VIDEO_AMONG_IMAGES = ("a video in a folder of images: only the images are scored; evaluate the videos as a folder of "
                      "their own")


@dataclass
class FolderDataset:
    """A labelled folder read into `dataset`, with the files left out and why, per split (`None`: in no split)."""

    source: Path
    dataset: datasets.DatasetDict
    layout: str
    skipped_by_split: dict[str | None, list[tuple[str, str]]] = field(default_factory=dict)

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """Every file left out, as `(path, reason)`."""
        return [item for items in self.skipped_by_split.values() for item in items]

    def skipped_for(self, split: str) -> list[tuple[str, str]]:
        """The files left out of `split`, and those that belong to no split."""
        return self.skipped_by_split.get(split, []) + self.skipped_by_split.get(None, [])

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per split and class: `{split: {"fake": n, "real": n}}`."""
        result = {}
        for split, table in self.dataset.items():
            counter = Counter(table["label"])
            result[split] = {name: counter.get(index, 0) for index, name in enumerate(LABEL_NAMES)}
        return result


def label_from_name(path: Path) -> str | None:
    """`fake` or `real` from a file name prefix (`fake_*`, `real-*`, case-insensitive), else `None`."""
    name = path.name.lower()
    for label in LABEL_NAMES:
        if name.startswith((f"{label}_", f"{label}-")):
            return label
    return None


def split_role(name: str) -> str | None:
    """The split a folder or split name stands for (`train`, `validation`, `test`; `Val` -> `validation`), else None."""
    return SPLIT_NAMES.get(str(name).strip().lower())


def split_folders(source: Path) -> dict[str, Path]:
    """The split folders of `source` by the split they hold; two folders for one split are refused, never merged."""
    found: dict[str, list[Path]] = {}
    for child in sorted(source.iterdir()):
        if child.is_dir() and split_role(child.name):
            found.setdefault(split_role(child.name), []).append(child)
    for split, folders in found.items():
        if len(folders) > 1:
            names = " and ".join(f"{folder.name}/" for folder in folders)
            raise DatasetFolderError(f"{source}: {names} both hold the {split} split. Merge them into one folder or "
                                     "rename one: each split is read from one folder, never merged.")
    return {split: found[split][0] for split in SPLITS if split in found}


def _key(path: Path) -> str:
    return os.path.normpath(str(path))


def read_metadata(source: Path) -> tuple[dict[str, str], list[Path]]:
    """The labels `source/metadata.csv` gives (by file) and the files it lists that do not exist; none without one."""
    path = source / METADATA_FILE
    if not path.is_file():
        return {}, []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            column = next((name for name in FILE_COLUMNS if name in (reader.fieldnames or [])), None)
            rows = list(reader) if column else []
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DatasetFolderError(f"{path}: cannot be read as a CSV ({error}). Fix it, or move it out of the folder "
                                 "(labels then come from folder and file names).") from error
    labels, missing = {}, []
    for row in rows:
        name = str(row.get(column) or "").strip()
        if not name:
            continue
        file = source / name
        if not (file.is_file() or file.is_symlink()):
            missing.append(file)
        label = str(row.get("label") or "").strip().lower()
        if label in LABEL_NAMES:
            labels[_key(file)] = label
    return labels, missing


def _label(path: Path, folder: Path, metadata: dict[str, str]) -> tuple[str | None, str]:
    """A file's label and what gave it: its class folder, else its name's prefix, else `metadata.csv`."""
    parts = path.relative_to(folder).parts
    if len(parts) > 1 and parts[0].lower() in LABEL_NAMES:
        return parts[0].lower(), CLASS_FOLDERS
    if label := label_from_name(path):
        return label, NAME_PREFIX
    return metadata.get(_key(path)), METADATA_FILE


def _readable(path: Path) -> str | None:
    """`None` when PIL can open the file as an image, else why not."""
    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return f"not a readable image ({error})"
    return None


def _split_of(path: Path, folders: dict[str, Path], default: str) -> str | None:
    """The split a file falls in: its split folder's (`None` outside every one), or `default` without split folders."""
    if not folders:
        return default
    return next((split for split, folder in folders.items() if folder in path.parents), None)


def _group_by_split(paths: list[Path], folders: dict[str, Path], default: str, missing: list[Path]):
    """Files, and the files `metadata.csv` lists but lacks (with their reason), grouped by split."""
    groups: dict[str | None, list[Path]] = {}
    skipped: dict[str | None, list[tuple[str, str]]] = {}
    for path in paths:
        groups.setdefault(_split_of(path, folders, default), []).append(path)
    for path in missing:
        skipped.setdefault(_split_of(path, folders, default), []).append(
            (str(path), f"listed in {METADATA_FILE} but not found: fix its entry or add the file"))
    outside = ", ".join(f"{folder.name}/" for folder in folders.values())
    for path in groups.pop(None, []):
        skipped.setdefault(None, []).append((str(path), f"outside the split folders ({outside}): in no split; move "
                                                        "it into one"))
    return groups, skipped


def _label_files(paths: list[Path], root: Path, metadata: dict[str, str], videos: bool, check_images: bool):
    """The labelled files of one split, the files left out with their reason, and what gave the labels."""
    kept, skipped, sources = [], [], set()
    for path in paths:
        if is_video(path) and not videos:
            skipped.append((str(path), VIDEO_AMONG_IMAGES))
            continue
        label, source = _label(path, root, metadata)
        problem = None if label else UNLABELLED + (f" nor labelled in {METADATA_FILE}" if metadata else "")
        problem = problem or (_readable(path) if check_images and not videos else None)
        if problem:
            skipped.append((str(path), problem))
        else:
            kept.append((path, label))
            sources.add(source)
    return kept, skipped, sources


def read_folder(source: str | os.PathLike, split: str = "test", check_images: bool = True) -> FolderDataset | None:
    """A labelled folder as a `FolderDataset` (see `build_dataset`), or None when it holds no labelled file."""
    source = Path(source)
    if not source.is_dir():
        raise DatasetFolderError(f"{source}: no such folder. Pass a folder of real_*/fake_* images or real/ fake/.")
    folders = split_folders(source)
    files = [Path(path) for path in find_images([source], IMAGE_SUFFIXES + VIDEO_SUFFIXES)]
    videos = bool(files) and all(is_video(path) for path in files)
    metadata, missing = read_metadata(source)
    groups, skipped = _group_by_split(files, folders, split, missing)
    column = VIDEO_COLUMN if videos else "image"
    features = datasets.Features({column: datasets.Value("string") if videos else datasets.Image(),
                                  "label": datasets.ClassLabel(names=LABEL_NAMES)})
    splits, layouts = {}, set()
    for name in list(folders) or [split]:
        kept, left_out, sources = _label_files(groups.get(name, []), folders.get(name, source), metadata, videos,
                                               check_images)
        skipped.setdefault(name, []).extend(left_out)
        layouts |= sources
        if kept:
            splits[name] = datasets.Dataset.from_dict(
                {column: [str(path) for path, _ in kept], "label": [LABEL_NAMES.index(label) for _, label in kept]},
                features=features)
    if not splits and missing:  # never left to a loader that would score the missing files and drop the others
        raise DatasetFolderError(f"{source}: no labelled image found, and {METADATA_FILE} lists {len(missing)} file(s) "
                                 f"the folder lacks, e.g. {missing[0]}. Fix its file_name entries, or label the images "
                                 "by name (real_*, fake_*) or folder (real/, fake/).")
    if not splits:
        return None
    layout = ", ".join(sorted(layouts))
    if folders:
        names = [f"{folders[s].name}/" + ("" if folders[s].name == s else f" as {s}") for s in splits]
        layout = f"split folders ({', '.join(names)}) with {layout}"
    return FolderDataset(source, datasets.DatasetDict(splits), layout, {k: v for k, v in skipped.items() if v})


def build_dataset(source: str | os.PathLike, split: str = "test", check_images: bool = True) -> FolderDataset:
    """Read a labelled folder into a `DatasetDict` (`image`, `label` = ClassLabel(names=["fake", "real"])).

    Split folders become splits (`Val/` -> `validation`); a folder without them becomes the single split `split`.
    Files left out (unlabelled, unreadable with `check_images`, outside the split folders, videos among images,
    missing from `metadata.csv`) are listed in `FolderDataset.skipped`. A folder of videos only gives a `video` column
    of file paths (videos are checked when they are read). Raises `DatasetFolderError` when nothing is labelled.
    """
    folder = read_folder(source, split, check_images)
    if folder is None:
        raise DatasetFolderError(
            f"{source}: no labelled image found. Name the files real_*.jpg / fake_*.jpg, or put them in real/ and "
            f"fake/ folders (optionally under {', '.join(f'{s}/' for s in SPLITS)}), or list them with a label in "
            f"{METADATA_FILE}."
        )
    return folder
