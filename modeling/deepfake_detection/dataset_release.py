"""Publishing an example dataset: a labelled folder (read by `dataset.build_dataset`) goes to the Hub with its card.

The card says where the images come from, what the labels mean, the license note and the counts.
"""

from __future__ import annotations

from huggingface_hub import DatasetCard, DatasetCardData

from .dataset import FolderDataset

CARD_TEMPLATE = """---
{metadata}
---

# {name}

Face images labelled **real** or **fake** (deepfake), for evaluating deepfake detectors such as the
`deepfake-detection` package's model.

## Source

{source}
Built with `scripts/push_dataset.py` from a folder labelled by {layout}.
{skipped}
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

License: `{license}`. {license_note}

## Use

```python
from datasets import load_dataset

dataset = load_dataset("{repo_id}", split="{first_split}")
```

```bash
python scripts/evaluate.py --model MODEL --dataset {repo_id} --split {first_split}
```
"""
"""The dataset card's text; `dataset_card` fills in the metadata, the source, the counts and the license."""


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
    name = repo_id.split("/")[-1]
    counts = folder.counts()
    total = sum(sum(c.values()) for c in counts.values())
    size = "n<1K" if total < 1000 else "1K<n<10K" if total < 10000 else "10K<n<100K"
    metadata = {
        **(existing_metadata or {}),
        "license": license,
        "pretty_name": name,
        "task_categories": ["image-classification"],
        "tags": ["deepfake-detection", "faces"],
        "size_categories": [size],
    }
    rows = "\n".join(
        f"| {split} | {c['fake']} | {c['real']} | {c['fake'] + c['real']} |" for split, c in counts.items()
    )
    skipped = (f"\n{len(folder.skipped)} file(s) of the source folder were left out (unlabelled, unreadable, outside "
               "the split folders, videos among images, or listed in metadata.csv but missing).\n")
    content = CARD_TEMPLATE.format(
        metadata=DatasetCardData(**metadata).to_yaml(),
        name=name,
        source=source_description or f"Images from the folder `{folder.source.name}`.",
        layout=folder.layout,
        skipped=skipped if folder.skipped else "",
        rows=rows,
        license=license,
        license_note=license_note or "Check the terms of the source data before using or redistributing it.",
        repo_id=repo_id,
        first_split=next(iter(counts)),
    )
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
