"""From a dataset to a trained model: load the train and validation splits, cut their face crops once, train."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import datasets

from ..configuration_deepfake_detector import LABELS, DeepfakeDetectorConfig
from ..dataset import image_column_undecoded, label_mapping, load_split, sample_indices
from ..errors import first_line
from .crops import FaceCrops, prepare_face_crops, read_pairs_csv
from .recipe import apply_recipe_sizes
from .trainer import TrainingRecipe, data_summary, resume_checkpoint, train


def load_crops(
    dataset: str | os.PathLike | datasets.Dataset,
    split: str,
    config: DeepfakeDetectorConfig,
    faces: str = "detect",
    image_column: str = "image",
    label_column: str = "label",
    group_column: str | None = None,
    pairs_csv: str | os.PathLike | None = None,
    limit: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    num_proc: int | None = None,
) -> FaceCrops:
    """One split of any dataset `evaluate` accepts, as cached face crops with labels and pairing groups.

    `group_column` defaults to `source_video` when the dataset has that column. `limit` keeps a random sample of
    that many rows, the same rows `evaluate` takes (`dataset.sample_indices`), for quick runs.
    """
    table, _ = load_split(dataset, split)
    labels = label_mapping(table, label_column, list(LABELS))
    table = image_column_undecoded(table, image_column)
    if limit is not None and limit < len(table):
        table = table.select(sample_indices(len(table), limit))
    if group_column is None and "source_video" in table.column_names:
        group_column = "source_video"
    pairs = read_pairs_csv(pairs_csv) if pairs_csv else None
    return prepare_face_crops(
        table, labels, config, faces, image_column, label_column, group_column, pairs, cache_dir, num_proc
    )


def train_on_dataset(
    dataset: str | os.PathLike,
    output_dir: str | os.PathLike,
    recipe: TrainingRecipe = TrainingRecipe(),
    train_split: str = "train",
    eval_split: str = "validation",
    faces: str = "detect",
    pairs_csv: str | os.PathLike | None = None,
    limit: int | None = None,
    init_model: str | os.PathLike | None = None,
    resume: bool | str = False,
    cache_dir: str | os.PathLike | None = None,
    num_proc: int | None = None,
    **columns: Any,
) -> dict:
    """Train on `dataset`'s `train_split`, choosing the best model by ROC-AUC on `eval_split`; see `trainer.train`.

    With a local folder and no `pairs_csv`, a `metadata.csv` inside it (DFDC's layout) pairs fakes with their reals.
    """
    if pairs_csv is None and Path(dataset).is_dir() and (Path(dataset) / "metadata.csv").is_file():
        pairs_csv = Path(dataset) / "metadata.csv"
    checkpoint = resume_checkpoint(Path(output_dir), resume)
    config = starting_config(checkpoint, init_model)
    apply_recipe_sizes(recipe, config)
    options = dict(faces=faces, pairs_csv=pairs_csv, limit=limit, cache_dir=cache_dir, num_proc=num_proc, **columns)
    train_crops = load_crops(dataset, train_split, config, **options)
    eval_crops = load_crops(dataset, eval_split, config, **options)
    for name, crops in (("train", train_crops), ("validation", eval_crops)):
        if crops.skipped:
            print(f"{name}: {len(crops.skipped)} image(s) left out (no face, unreadable or unlabelled), "
                  f"e.g. {crops.skipped[0][0]}: {crops.skipped[0][1]}")
    for name, split, crops in (("train", train_split, train_crops), ("validation", eval_split, eval_crops)):
        check_both_classes(name, split, crops)
    summary = data_summary(train_crops, eval_crops)
    print(f"train: {summary['train_faces']} faces, {summary['paired_fakes']} fakes paired with their source video's "
          f"real; validation: {summary['eval_faces']} faces")
    return train(train_crops, eval_crops, output_dir, recipe, init_model, resume, dataset_name=str(dataset))


def starting_config(checkpoint: Path | None, init_model: str | os.PathLike | None) -> DeepfakeDetectorConfig:
    """The config a run starts from (a resumed run keeps its checkpoint's face settings); a clear error, before any
    data is read, when the checkpoint or `init_model` is not a model."""
    source, option = (checkpoint, "--resume") if checkpoint else (init_model, "--init-model")
    if source is None:
        return DeepfakeDetectorConfig()
    advice = "Pass a folder with config.json and model.safetensors (a run's best-model/ or checkpoint-N/) or a Hub model id."
    try:
        config = DeepfakeDetectorConfig.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise ValueError(f"{option} {source}: not a model ({first_line(error)}). {advice}") from error
    if Path(source).is_dir() and not any(Path(source).glob("*.safetensors")) and not any(Path(source).glob("*.bin")):
        raise ValueError(f"{option} {source}: not a model (config.json but no weights). {advice}")
    return config


def check_both_classes(name: str, split: str, crops: FaceCrops) -> None:
    """Training needs real and fake faces in both splits: ROC-AUC on validation, which picks the best model, is
    undefined with one class, and a run would end without one."""
    counts = {label: int((crops.labels == LABELS.index(label)).sum()) for label in LABELS}
    if min(counts.values()) == 0:
        found = ", ".join(f"{count} {label}" for label, count in counts.items())
        raise ValueError(f"The {name} split {split!r} has {found} faces; training needs both real and fake faces "
                         "in the train and the validation split (--train-split, --eval-split).")
