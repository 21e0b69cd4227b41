"""Example datasets: a folder of labelled face images becomes a `datasets.DatasetDict` with a dataset card, on the Hub.

A folder is labelled either by file name (`real_*` / `fake_*`) or by class subfolders (`real/`, `fake/`), optionally
under split folders (`train/`, `validation/`, `test/`). A folder without split folders becomes one split (`test` by
default: these examples are meant for evaluation).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from huggingface_hub import DatasetCard, DatasetCardData
from PIL import Image

from .configuration_deepfake_detector import LABELS
from .images import find_images

LABEL_NAMES = list(LABELS)
"""The `label` ClassLabel's names, in the order of the model's `id2label` (0 = fake, 1 = real)."""
SPLITS = ("train", "validation", "test")


class DatasetFolderError(ValueError):
    """A folder cannot be read as a labelled dataset; the message says which layout is expected."""


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


def _labelled_files(folder: Path) -> tuple[list[tuple[Path, str]], list[tuple[str, str]], str]:
    """Files of one split folder with their labels, the unlabelled files, and the layout found."""
    class_folders = _class_folders(folder)
    if class_folders:
        files = [(path, label) for label, sub in sorted(class_folders.items()) for path in find_images([sub])]
        return files, [], "class subfolders (real/, fake/)"
    files, skipped = [], []
    for path in find_images([folder]):
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
    `check_images`) unreadable files are left out and listed in `FolderDataset.skipped`.
    Raises `DatasetFolderError` when the folder holds no labelled image.
    """
    source = Path(source)
    if not source.is_dir():
        raise DatasetFolderError(f"{source}: no such folder. Pass a folder of real_*/fake_* images or real/ fake/.")
    split_folders = {child.name: child for child in source.iterdir() if child.is_dir() and child.name in SPLITS}
    folders = split_folders or {split: source}
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=LABEL_NAMES)})
    splits, skipped, layouts = {}, [], set()
    for name in SPLITS if split_folders else [split]:
        if name not in folders:
            continue
        files, unlabelled, layout = _labelled_files(folders[name])
        skipped.extend(unlabelled)
        layouts.add(layout)
        kept = []
        for path, label in files:
            problem = _readable(path) if check_images else None
            if problem:
                skipped.append((str(path), problem))
            else:
                kept.append((path, label))
        if kept:
            splits[name] = datasets.Dataset.from_dict(
                {"image": [str(path) for path, _ in kept], "label": [LABEL_NAMES.index(label) for _, label in kept]},
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


def dataset_card(
    folder: FolderDataset,
    repo_id: str,
    source_description: str | None = None,
    license: str = "other",
    license_note: str | None = None,
    existing_metadata: dict | None = None,
) -> DatasetCard:
    """The dataset card: where the images come from, what the labels mean, the license note and the counts.

    `existing_metadata` (what `push_to_hub` wrote: `dataset_info`, `configs`) is kept, so the splits stay loadable.
    """
    counts = folder.counts()
    total = sum(sum(c.values()) for c in counts.values())
    size = "n<1K" if total < 1000 else "1K<n<10K" if total < 10000 else "10K<n<100K"
    metadata = {
        **(existing_metadata or {}),
        "license": license,
        "pretty_name": repo_id.split("/")[-1],
        "task_categories": ["image-classification"],
        "tags": ["deepfake-detection", "faces"],
        "size_categories": [size],
    }
    rows = "\n".join(
        f"| {split} | {c['fake']} | {c['real']} | {c['fake'] + c['real']} |" for split, c in counts.items()
    )
    skipped = f"\n{len(folder.skipped)} file(s) of the source folder were left out (unlabelled or unreadable).\n"
    first_split = next(iter(counts))
    content = f"""---
{DatasetCardData(**metadata).to_yaml()}
---

# {repo_id.split("/")[-1]}

Face images labelled **real** or **fake** (deepfake), for evaluating deepfake detectors such as the
`deepfake-detection` package's model.

## Source

{source_description or f"Images from the folder `{folder.source.name}`."}
Built with `scripts/push_dataset.py` from a folder labelled by {folder.layout}.
{skipped if folder.skipped else ""}
## Labels

| column | type | meaning |
|---|---|---|
| `image` | `Image` | the photo, frame or face crop |
| `label` | `ClassLabel(names=["fake", "real"])` | 0 = fake, 1 = real: the order of the model's `id2label` |

Evaluation maps labels to the model's classes by name, so the index order does not matter to it.

## Counts

| split | fake | real | total |
|---|---|---|---|
{rows}

## License

License: `{license}`. {license_note or "Check the terms of the source data before using or redistributing it."}

## Use

```python
from datasets import load_dataset

dataset = load_dataset("{repo_id}", split="{first_split}")
```

```bash
python scripts/evaluate.py --model MODEL --dataset {repo_id} --split {first_split}
```
"""
    return DatasetCard(content)


def push_dataset(
    folder: FolderDataset,
    repo_id: str,
    private: bool = False,
    source_description: str | None = None,
    license: str = "other",
    license_note: str | None = None,
) -> str:
    """Push the dataset, then its card (keeping the metadata `push_to_hub` wrote); return the card commit's URL."""
    folder.dataset.push_to_hub(repo_id, private=private, commit_message=f"Upload {folder.source.name}")
    existing = DatasetCard.load(repo_id, repo_type="dataset").data.to_dict()
    card = dataset_card(folder, repo_id, source_description, license, license_note, existing)
    return card.push_to_hub(repo_id, repo_type="dataset", commit_message="Dataset card: source, labels, counts")
