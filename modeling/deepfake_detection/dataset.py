"""Labelled datasets in: one split of a Hub dataset or of a local folder, its labels matched to the model's classes.

Local folders are read by `folders.py` (split folders by name, `real/` / `fake/`, `real_*` / `fake_*`, `metadata.csv`).
Without `--split`, the validation split is evaluated (else test, else the only split, with a warning when that one is
a training split), and the files a folder left out are named. Evaluation and training both load data here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from .errors import EvaluationError, ImageLoadError, first_line
from .folders import FolderDataset, read_folder, split_role
# Re-exported: these lived here before folders.py, and callers import them from here.
from .errors import DatasetFolderError  # noqa: F401
from .folders import LABEL_NAMES, SPLITS, VIDEO_COLUMN, build_dataset, label_from_name  # noqa: F401
from .hub import default_dataset_id
from .images import load_image

LIMIT_SEED = 0
"""The seed of the random sample `--limit N` takes."""
PREFERRED_SPLITS = ("validation", "test")
"""The split evaluated when none is named, in order of preference (else the only split); names match by
`folders.split_role`, so `val` or `Valid` count as validation."""


def load_split(
    dataset: str | os.PathLike | datasets.Dataset | None, split: str | None = None, revision: str | None = None
) -> tuple[datasets.Dataset, dict[str, Any]]:
    """One split of a dataset and where it came from (`id`, `revision`, `split`, `rows_in_split`), with the files a
    local folder left out of it (`skipped`: path and reason) and what the caller should say (`warnings`).

    Without `split`, takes the validation split, else the test split, else the only split there is.
    """
    if isinstance(dataset, datasets.Dataset):
        name = split or (str(dataset.split) if dataset.split else "unknown")
        return dataset, {"id": dataset.info.dataset_name or "in-memory", "revision": None, "split": name,
                         "rows_in_split": len(dataset)}
    dataset = str(dataset or default_dataset_id())
    path = Path(dataset)
    skipped: list[tuple[str, str]] = []
    if path.is_dir():
        splits, folder = _local_splits(path)
        chosen = choose_split(list(splits) if splits is not None else _split_names(dataset), split, dataset)
        table = splits[chosen] if splits is not None else _load_dataset(dataset, chosen)
        source = {"id": str(path.resolve()), "revision": None}
        skipped = folder.skipped_for(chosen) if folder is not None else []
    else:
        chosen = choose_split(_split_names(dataset, revision), split, dataset)
        table = _load_dataset(dataset, chosen, revision)
        source = {"id": dataset, "revision": _dataset_sha(dataset, revision), "requested_revision": revision}
    return table, {**source, "split": chosen, "rows_in_split": len(table), **split_report(chosen, split, skipped)}


def split_report(chosen: str, requested: str | None, skipped: list[tuple[str, str]]) -> dict[str, Any]:
    """The files left out of the split read, and the warnings to show: those files, and a training split evaluated
    only because the dataset has no other."""
    warnings = []
    if requested is None and split_role(chosen) == "train":
        warnings.append(f"The dataset has only a training split ({chosen!r}), so that is what was evaluated: metrics "
                        "on training data overstate how well the model does on new faces. Add a validation/ or "
                        "test/ split, or pass --split to choose.")
    if skipped:
        path, reason = skipped[0]
        warnings.append(f"{len(skipped)} file(s) of the dataset folder were left out of the {chosen!r} split, e.g. "
                        f"{path}: {reason} (evaluate's metrics.json lists each under dataset.skipped).")
    return {"skipped": [{"path": path, "reason": reason} for path, reason in skipped], "warnings": warnings}


def _local_splits(path: Path) -> tuple[datasets.DatasetDict | None, FolderDataset | None]:
    """The splits of a `save_to_disk` folder or of a labelled folder (and the folder read, for what it left out);
    `None` for `load_dataset` to read."""
    if (path / datasets.config.DATASETDICT_JSON_FILENAME).is_file():
        return datasets.load_from_disk(str(path)), None
    if (path / datasets.config.DATASET_STATE_JSON_FILENAME).is_file():
        return datasets.DatasetDict({"train": datasets.load_from_disk(str(path))}), None
    folder = read_folder(path, check_images=False)
    return (folder.dataset, folder) if folder is not None else (None, None)


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
    """The requested split (by name, else the one split of the same kind: `val` for `validation`), else the
    validation split, the test split or the only split; a clear error otherwise. Two candidates are never merged."""
    if split is not None:
        same_kind = [name for name in available if split_role(split) and split_role(name) == split_role(split)]
        if split in available or len(same_kind) == 1:
            return split if split in available else same_kind[0]
        raise EvaluationError(f"The dataset {dataset!r} has no split {split!r}; its splits are {available}.")
    for kind in PREFERRED_SPLITS:
        named = [name for name in available if split_role(name) == kind]
        if len(named) > 1:
            raise EvaluationError(f"The dataset {dataset!r} has several {kind} splits {named}: choose one with "
                                  "--split.")
        if named:
            return named[0]
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
