"""From a dataset to a trained model: load the train and validation splits, cut their face crops once, train."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from ..configuration_deepfake_detector import LABELS, DeepfakeDetectorConfig
from ..dataset import image_column_undecoded, label_mapping, load_split, sample_indices
from ..errors import first_line
from .calibration import calibrate_model
from .crops import FaceCrops, prepare_face_crops, read_pairs_csv
from .mixture import (MixtureEntry, MixtureSampler, SourcedCrops, describe_mixture, label_crops, source_table,
                      source_weights, validation_cut)
from .recipe import BEST_MODEL_DIR, apply_recipe_sizes
from .trainer import TrainingRecipe, data_summary, resume_checkpoint, train

MIXTURE_FILE = "mixture.json"
"""The mixture's entries and per-source table, written beside a mixture run's results."""


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
    table, info = load_split(dataset, split)
    for message in info.get("warnings", []):  # files a folder left out, named rather than silently dropped
        print(f"warning: {message}")
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
    best = train(train_crops, eval_crops, output_dir, recipe, init_model, resume, dataset_name=str(dataset))
    return {**best, "calibration": calibrate_best_model(output_dir, eval_crops)}


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


def concatenate_crops(parts: list[FaceCrops]) -> FaceCrops:
    """Several crop sets as one; pairing groups are renumbered so that two datasets' groups never collide."""
    offset, groups = 0, []
    for part in parts:
        groups.append(np.where(part.groups >= 0, part.groups + offset, part.groups))
        offset += int(part.groups.max(initial=-1)) + 1
    return FaceCrops(
        pixels=np.concatenate([part.pixels for part in parts]),
        labels=np.concatenate([part.labels for part in parts]),
        groups=np.concatenate(groups),
        landmarks=np.concatenate([part.landmarks for part in parts]),
        paths=[path for part in parts for path in part.paths],
        skipped=[item for part in parts for item in part.skipped],
        face_widths=np.concatenate([part.face_widths for part in parts]),
    )


def _sourced(crops: FaceCrops, entry_id: int, names: tuple[list[str], list[str]], index: dict) -> SourcedCrops:
    """Crops of one entry with their source and family ids, registering new names in `index`."""
    ids = []
    for kind, values in zip(("sources", "families"), names):
        for value in values:
            index[kind].setdefault(value, len(index[kind]))
        ids.append(np.array([index[kind][value] for value in values], np.int64))
    return SourcedCrops(crops, ids[0], ids[1], np.full(len(crops), entry_id, np.int64))


def load_mixture_crops(entries: list[MixtureEntry], config: DeepfakeDetectorConfig, faces: str = "detect",
                       **options: Any) -> tuple[SourcedCrops, SourcedCrops]:
    """The training and validation crops of every entry, each source with its own validation part (the entry's
    `eval_split`, or a seeded cut of its training split by identity, video or file)."""
    index: dict = {"sources": {}, "families": {}, "held_out": set()}
    train_parts, eval_parts = [], []
    for entry_id, entry in enumerate(entries):
        pairs_csv = entry.metadata if entry.paired and entry.metadata and _has_column(entry.metadata, "source_video") \
            else None
        crops = load_crops(entry.dataset, entry.train_split, config, faces, pairs_csv=pairs_csv, **options)
        sources, families, groups = label_crops(crops, entry)
        held_out = {f"{entry.name}/{source}" for source in entry.held_out}
        unknown = held_out - set(sources)
        if unknown:
            raise ValueError(f"Mixture entry {entry.name!r}: held_out names no source of it: {sorted(unknown)}; its "
                             f"sources are {sorted(set(sources))}.")
        index["held_out"] |= held_out
        if entry.eval_split is None:
            held = validation_cut(sources, crops.labels, groups, entry.validation_fraction, held_out=held_out)
            parts = [(crops.subset(np.flatnonzero(~held)), ~held), (crops.subset(np.flatnonzero(held)), held)]
        else:
            held_crops = load_crops(entry.dataset, entry.eval_split, config, faces, pairs_csv=pairs_csv, **options)
            parts = [(crops, np.ones(len(crops), bool)), (held_crops, None)]
        for (part, mask), into in zip(parts, (train_parts, eval_parts)):
            names = label_crops(part, entry)[:2] if mask is None else tuple(
                [value for value, keep in zip(values, mask) if keep] for values in (sources, families))
            into.append(_sourced(part, entry_id, names, index))
    for name, parts in (("training", train_parts), ("validation", eval_parts)):
        check_both_classes(name, "mixture", concatenate_crops([part.crops for part in parts]))
    return tuple(_join(parts, index, [entry.name for entry in entries]) for parts in (train_parts, eval_parts))


def _join(parts: list[SourcedCrops], index: dict, entries: list[str]) -> SourcedCrops:
    return SourcedCrops(
        concatenate_crops([part.crops for part in parts]), np.concatenate([part.source_ids for part in parts]),
        np.concatenate([part.family_ids for part in parts]), np.concatenate([part.entry_ids for part in parts]),
        list(index["sources"]), list(index["families"]), entries, set(index["held_out"]),
    )


def _has_column(csv_path: str, column: str) -> bool:
    with open(csv_path, newline="") as handle:
        return column in (next(csv.reader(handle), None) or [])


def train_on_mixture(
    entries: list[MixtureEntry],
    output_dir: str | os.PathLike,
    recipe: TrainingRecipe = TrainingRecipe(),
    faces: str = "detect",
    limit: int | None = None,
    init_model: str | os.PathLike | None = None,
    resume: bool | str = False,
    cache_dir: str | os.PathLike | None = None,
    num_proc: int | None = None,
    **columns: Any,
) -> dict:
    """Train on several datasets at once (see `mixture`): batches balanced by source and label, every source's
    validation metrics logged, the best model kept by `source_metrics.SELECTION_RULE`."""
    checkpoint = resume_checkpoint(Path(output_dir), resume)
    config = starting_config(checkpoint, init_model)
    apply_recipe_sizes(recipe, config)
    train_set, eval_set = load_mixture_crops(entries, config, faces, limit=limit, cache_dir=cache_dir,
                                             num_proc=num_proc, **columns)
    weights = source_weights(train_set, {entry.name: entry.weight for entry in entries})
    sampler = MixtureSampler(train_set, weights, pairs_per_epoch=len(train_set.crops) // 2,
                             self_blend_fraction=recipe.self_blend_fraction, seed=recipe.seed)
    table = source_table(train_set, eval_set, weights)
    for row in table:
        note = " (held out: never trained on)" if row["held_out"] else ""
        print(f"{row['source']}: {row['train_real'] + row['train_fake']} training faces ({row['share_of_draws']:.1%} "
              f"of draws), {row['validation_real'] + row['validation_fake']} validation faces{note}")
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    (Path(output_dir) / MIXTURE_FILE).write_text(json.dumps(
        {"entries": describe_mixture(entries), "sources": table}, indent=2))
    best = train(train_set.crops, eval_set.crops, output_dir, recipe, init_model, resume,
                 dataset_name=", ".join(entry.name for entry in entries), sampler=sampler, eval_sources=eval_set)
    seen = eval_set.subset(np.flatnonzero(~eval_set.held_out_mask))  # held-out sources stay unseen by the fit too
    return {**best, "calibration": calibrate_best_model(output_dir, seen.crops)}


def calibrate_best_model(output_dir: str | os.PathLike, crops: FaceCrops) -> dict:
    """Fit Platt scaling of the run's best model on its validation crops (`calibration.calibrate_model`) and say so."""
    try:
        calibration = calibrate_model(Path(output_dir) / BEST_MODEL_DIR, crops)
    except ValueError as error:  # e.g. a model that does not rank yet: keep it uncalibrated, and say so
        print(f"warning: the best model was left uncalibrated: {error}")
        return {"skipped": str(error)}
    print(f"calibrated P(real) on {calibration.faces} validation faces: scale {calibration.score_scale:.3f}, shift "
          f"{calibration.score_shift:+.3f}; ECE {calibration.ece_before:.3f} -> {calibration.ece_cross_fitted:.3f} "
          "(cross-fitted)")
    return asdict(calibration)
