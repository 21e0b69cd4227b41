"""Labelled datasets in: one split of a Hub dataset or of a local folder, its labels matched to the model's classes.

A local folder is labelled either by file name (`real_*` / `fake_*`) or by class subfolders (`real/`, `fake/`),
optionally under split folders (`train/`, `validation/`, `test/`); one without split folders becomes one split
(`test` by default: such examples are meant for evaluation). Evaluation and training both load data here.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import datasets
import numpy as np
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
from PIL import Image

from .configuration_deepfake_detector import LABELS
from .hub import default_dataset_id
from .errors import DatasetFolderError, EvaluationError, ImageLoadError, first_line
from .images import IMAGE_SUFFIXES, find_images, load_image
from .video import VIDEO_SUFFIXES

LABEL_NAMES = list(LABELS)
"""The `label` ClassLabel's names, in the order of the model's `id2label` (0 = fake, 1 = real)."""
SPLITS = ("train", "validation", "test")
VIDEO_COLUMN = "video"
"""The column of video file paths in a dataset built from a folder of videos."""
LIMIT_SEED = 0
"""The seed of the random sample `--limit N` takes."""
PREFERRED_SPLITS = ("test", "validation")
"""The split evaluated when none is named, in order of preference (else the only split)."""


@dataclass
class FolderDataset:
    """A labelled image folder read into `dataset`, with the files left out and why."""

    source: Path
    dataset: datasets.DatasetDict
    layout: str
    skipped: list[tuple[str, str]] = field(default_factory=list)

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


def _class_folders(folder: Path) -> dict[str, Path]:
    return {child.name.lower(): child for child in folder.iterdir() if child.is_dir() and child.name.lower() in LABELS}


def _labelled_files(folder: Path, suffixes: Sequence[str]) -> tuple[list[tuple[Path, str]], list[tuple[str, str]], str]:
    """Files of one split folder with their labels, the unlabelled files, and the layout found."""
    class_folders = _class_folders(folder)
    if class_folders:
        files = [(path, label) for label, sub in sorted(class_folders.items()) for path in find_images([sub], suffixes)]
        return files, [], "class subfolders (real/, fake/)"
    files, skipped = [], []
    for path in find_images([folder], suffixes):
        label = label_from_name(path)
        if label is None:
            skipped.append((str(path), "no real_/fake_ prefix in its name and not under a real/ or fake/ folder"))
        else:
            files.append((path, label))
    return files, skipped, "file name prefix (real_*, fake_*)"


def _readable(path: Path) -> str | None:
    """`None` when PIL can open the file as an image, else why not."""
    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return f"not a readable image ({error})"
    return None


def build_dataset(source: str | os.PathLike, split: str = "test", check_images: bool = True) -> FolderDataset:
    """Read a labelled image folder into a `DatasetDict` (`image`, `label` = ClassLabel(names=["fake", "real"])).

    Split folders become splits; a folder without them becomes the single split `split`. Unlabelled and (with
    `check_images`) unreadable files are left out and listed in `FolderDataset.skipped`. A folder that holds videos
    and no images gives a `video` column of file paths instead (videos are checked when they are read).
    Raises `DatasetFolderError` when the folder holds no labelled image or video.
    """
    source = Path(source)
    if not source.is_dir():
        raise DatasetFolderError(f"{source}: no such folder. Pass a folder of real_*/fake_* images or real/ fake/.")
    split_folders = {child.name: child for child in source.iterdir() if child.is_dir() and child.name in SPLITS}
    folders = split_folders or {split: source}
    videos = not find_images([source]) and bool(find_images([source], VIDEO_SUFFIXES))
    column, suffixes = (VIDEO_COLUMN, VIDEO_SUFFIXES) if videos else ("image", IMAGE_SUFFIXES)
    media = datasets.Value("string") if videos else datasets.Image()
    features = datasets.Features({column: media, "label": datasets.ClassLabel(names=LABEL_NAMES)})
    splits, skipped, layouts = {}, [], set()
    for name in SPLITS if split_folders else [split]:
        if name not in folders:
            continue
        files, unlabelled, layout = _labelled_files(folders[name], suffixes)
        skipped.extend(unlabelled)
        layouts.add(layout)
        kept = []
        for path, label in files:
            problem = _readable(path) if check_images and not videos else None
            if problem:
                skipped.append((str(path), problem))
            else:
                kept.append((path, label))
        if kept:
            splits[name] = datasets.Dataset.from_dict(
                {column: [str(path) for path, _ in kept], "label": [LABEL_NAMES.index(label) for _, label in kept]},
                features=features,
            )
    if not splits:
        raise DatasetFolderError(
            f"{source}: no labelled image found. Name the files real_*.jpg / fake_*.jpg, or put them in real/ and "
            f"fake/ folders (optionally under {', '.join(f'{s}/' for s in SPLITS)})."
        )
    layout = ", ".join(sorted(layouts))
    if split_folders:
        layout = f"split folders ({', '.join(f'{s}/' for s in splits)}) with {layout}"
    return FolderDataset(source=source, dataset=datasets.DatasetDict(splits), layout=layout, skipped=skipped)


def load_split(
    dataset: str | os.PathLike | datasets.Dataset | None, split: str | None = None, revision: str | None = None
) -> tuple[datasets.Dataset, dict[str, Any]]:
    """One split of a dataset and where it came from (`id`, `revision`, `split`, `rows_in_split`).

    Without `split`, takes `test`, else `validation`, else the only split there is.
    """
    if isinstance(dataset, datasets.Dataset):
        name = split or (str(dataset.split) if dataset.split else "unknown")
        return dataset, {"id": dataset.info.dataset_name or "in-memory", "revision": None, "split": name,
                         "rows_in_split": len(dataset)}
    dataset = str(dataset or default_dataset_id())
    path = Path(dataset)
    if path.is_dir():
        splits = _local_splits(path)
        chosen = choose_split(list(splits) if splits is not None else _split_names(dataset), split, dataset)
        table = splits[chosen] if splits is not None else _load_dataset(dataset, chosen)
        source = {"id": str(path.resolve()), "revision": None}
    else:
        chosen = choose_split(_split_names(dataset, revision), split, dataset)
        table = _load_dataset(dataset, chosen, revision)
        source = {"id": dataset, "revision": _dataset_sha(dataset, revision), "requested_revision": revision}
    return table, {**source, "split": chosen, "rows_in_split": len(table)}


def _local_splits(path: Path) -> datasets.DatasetDict | None:
    """The splits of a `save_to_disk` folder or of a folder labelled by file name; `None` for `load_dataset`."""
    if (path / datasets.config.DATASETDICT_JSON_FILENAME).is_file():
        return datasets.load_from_disk(str(path))
    if (path / datasets.config.DATASET_STATE_JSON_FILENAME).is_file():
        return datasets.DatasetDict({"train": datasets.load_from_disk(str(path))})
    try:
        return build_dataset(path, check_images=False).dataset
    except DatasetFolderError:
        return None


def dataset_unavailable(dataset: str, error: BaseException) -> EvaluationError:
    """The error for a dataset that cannot be listed or read: which one, why, and the ways out."""
    return EvaluationError(
        f"Could not load the dataset {dataset!r}: {first_line(error)}\n"
        "Pass a Hub dataset id you can reach, a local folder (real/ and fake/ subfolders, or real_*/fake_* "
        "files), or publish one with scripts/push_dataset.py."
    )


def _split_names(dataset: str, revision: str | None = None) -> list[str]:
    try:
        return datasets.get_dataset_split_names(dataset, revision=revision)
    except (FileNotFoundError, datasets.exceptions.DatasetNotFoundError, HfHubHTTPError, ValueError) as error:
        raise dataset_unavailable(dataset, error) from error


def _load_dataset(dataset: str, split: str, revision: str | None = None) -> datasets.Dataset:
    try:
        return datasets.load_dataset(dataset, split=split, revision=revision)
    except (HfHubHTTPError, OSError) as error:  # Hub answers, dropped connections, unreadable files
        raise dataset_unavailable(dataset, error) from error


def _dataset_sha(dataset: str, revision: str | None) -> str | None:
    """The commit the dataset was read at, or the requested revision when the Hub cannot say."""
    try:
        return HfApi().dataset_info(dataset, revision=revision).sha
    except (HfHubHTTPError, OSError, ValueError):
        return revision


def choose_split(available: list[str], split: str | None, dataset: str) -> str:
    """The requested split if it exists, else `test`, `validation` or the only split; a clear error otherwise."""
    if split is not None:
        if split not in available:
            raise EvaluationError(f"The dataset {dataset!r} has no split {split!r}; its splits are {available}.")
        return split
    for name in PREFERRED_SPLITS:
        if name in available:
            return name
    if len(available) == 1:
        return available[0]
    raise EvaluationError(f"The dataset {dataset!r} has splits {available}: choose one with --split.")


def label_mapping(table: datasets.Dataset, label_column: str, model_labels: list[str]) -> dict[Any, str]:
    """Each label value of the dataset mapped to the model's class of the same name (case-insensitive).

    Raises `EvaluationError` when the column is missing, has no names, or names a class the model does not know.
    """
    if label_column not in table.column_names:
        raise EvaluationError(
            f"The dataset has no label column {label_column!r}; its columns are {table.column_names}. "
            "Pass the right one with --label-column."
        )
    feature = table.features[label_column]
    if isinstance(feature, datasets.ClassLabel):
        names = dict(enumerate(feature.names))
    elif isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string"):
        names = {value: value for value in set(table[label_column]) if value is not None}
    else:
        raise EvaluationError(
            f"The label column {label_column!r} holds {feature} values without class names, so they cannot be "
            f"matched to the model's classes {model_labels} by name. Cast it to ClassLabel(names=[...]) or strings."
        )
    by_name = {label.lower(): label for label in model_labels}
    unknown = sorted(str(name) for name in names.values() if str(name).strip().lower() not in by_name)
    if unknown:
        raise EvaluationError(
            f"The dataset's label names {sorted(map(str, names.values()))} do not match the model's classes "
            f"{model_labels}: {unknown} unknown. Rename the dataset's classes to {model_labels}."
        )
    return {value: by_name[str(name).strip().lower()] for value, name in names.items()}


def image_column_undecoded(table: datasets.Dataset, image_column: str) -> datasets.Dataset:
    """The dataset with its image column left as bytes/paths, so that one bad image cannot stop the run."""
    if image_column not in table.column_names:
        raise EvaluationError(
            f"The dataset has no image column {image_column!r}; its columns are {table.column_names}. "
            "Pass the right one with --image-column."
        )
    if isinstance(table.features[image_column], datasets.Image):
        return table.cast_column(image_column, datasets.Image(decode=False))
    return table


def sample_indices(rows: int, limit: int | None) -> list[int]:
    """Every row, or a seeded random sample of `limit` rows in dataset order: the rows `--limit` takes, in
    evaluation and training alike."""
    if limit is None or limit >= rows:
        return list(range(rows))
    return sorted(np.random.default_rng(LIMIT_SEED).permutation(rows)[:limit].tolist())


def read_image_value(value: Any):
    """A dataset's image cell (`{"bytes", "path"}`, a path or an image) as an RGB PIL image, or `ImageLoadError`."""
    if isinstance(value, dict):
        if value.get("bytes"):
            return load_image(value["bytes"])
        if value.get("path"):
            return load_image(value["path"])
        raise ImageLoadError("The image entry is empty (no bytes, no path).")
    return load_image(value)


def image_path(value: Any) -> str:
    """The file path of a dataset's image cell, or "" when it has none (bytes, in-memory images)."""
    if isinstance(value, dict):
        return value.get("path") or ""
    return str(value) if isinstance(value, (str, os.PathLike)) else ""
