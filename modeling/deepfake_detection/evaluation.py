"""Evaluation on a labelled image dataset: one prediction per image, then metrics, plots and (optionally) the Hub.

This module runs the model over the data; loading is `dataset.py`'s job, metrics `metrics.py`'s, and writing,
reading and publishing results `report.py`'s. Images without a detected face, with only faces too small to judge,
and unreadable images get a row in `predictions.csv` with their reason, out of every metric; `metrics.json` counts them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
from tqdm.auto import tqdm

from .configuration_deepfake_detector import LABELS
from .dataset import (LIMIT_SEED, VIDEO_COLUMN, image_column_undecoded, image_path, label_mapping, load_split,
                      read_image_value, sample_indices)
from .degradations import check_degradation, degrade as degrade_image
from .errors import EvaluationError, ImageLoadError, first_line, folder_problem, hub_failure
from .faces import FACE_MODES
from .hub import default_model_id, is_local
from .metrics import Prediction, compute_metrics
from .pipeline import DeepfakeDetectionPipeline, load_pipeline
from .report import push_results, write_results

SAMPLE_NOTE = f"random rows (seed {LIMIT_SEED})"
ROW_COLUMN = "__row_index__"
"""A column added while the rows are split between processes, so every prediction keeps its row index."""


@dataclass
class EvaluationResult:
    """What `evaluate` produced: the metrics, one row per image, the files written, and the Hub commit if pushed."""

    metrics: dict[str, Any]
    rows: list[Prediction]
    output_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    commit_url: str | None = None


def evaluate(
    model: str | os.PathLike | DeepfakeDetectionPipeline | None = None,
    dataset: str | os.PathLike | datasets.Dataset | None = None,
    *,
    revision: str | None = None,
    split: str | None = None,
    dataset_revision: str | None = None,
    image_column: str = "image",
    label_column: str = "label",
    faces: str = "detect",
    batch_size: int = 16,
    limit: int | None = None,
    output_dir: str | os.PathLike = "evaluation",
    push_to_hub: bool | str = False,
    progress: bool = True,
    detection_max_side: int | None = None,
    video_options: dict | None = None,
    degrade: str | None = None,
) -> EvaluationResult:
    """Evaluate a detector on one split of a labelled dataset; write predictions, metrics and plots to `output_dir`.

    `model` is a Hub id, a local model folder or a loaded pipeline; `dataset` a Hub id, a local folder (imagefolder,
    `save_to_disk` output, or `real_*`/`fake_*` files) or a `datasets.Dataset`. `faces="detect"` finds faces in each
    image (its score is that of the most suspicious face); `faces="crops"` takes each image as one face crop.
    `limit` evaluates a seeded random sample of that many rows. `push_to_hub` uploads the results under `eval/` of the
    model repo (or of the repo id given) and into its card's `model-index`. `detection_max_side` opts into faster,
    slightly different face detection; metrics.json records it.
    A dataset of videos (a `video` column of paths) is scored per video, with `video_options` for `analyse_video`.
    `degrade` names a degradation (`degradations.degrade`, e.g. "half-jpeg50") applied to every image before it is
    scored, to measure robustness. Under `accelerate launch`, each process scores its shard and the main process
    gathers, writes and pushes.
    """
    check_options(faces, batch_size, limit)
    check_degradation(degrade)
    push_repo = _push_repo(model, push_to_hub)
    check_output_dir(Path(output_dir))
    state = process_state()
    with state.main_process_first():  # one process downloads or builds the dataset, the others then read it
        table, dataset_info = load_split(dataset, split=split, revision=dataset_revision)
    labels = label_mapping(table, label_column, list(LABELS))
    table, image_column, videos = media_column(table, image_column)
    detector = detector_for(model, revision, detection_max_side, state)
    indices = sample_indices(len(table), limit)
    table = table.select(indices) if len(indices) < len(table) else table
    if videos and degrade:
        raise EvaluationError(f"--degrade {degrade} applies to images, and this dataset holds videos: leave it out.")
    scorer = Scorer(detector, "videos", {"aggregation": "mean", **(video_options or {})}) if videos else Scorer(
        detector, faces, degrade=degrade)
    shard, shard_indices = shard_for_process(table, indices, state)
    rows = gather_rows(predict_rows(scorer, shard, image_column, label_column, labels, batch_size, shard_indices,
                                    progress and state.is_main_process), state)
    sample = SAMPLE_NOTE if len(indices) < dataset_info["rows_in_split"] else "all"
    dataset_info.update(image_column=image_column, label_column=label_column, label_mapping={
        str(value): name for value, name in labels.items()}, limit=limit, sample=sample)
    metrics = run_metrics(rows, scorer, dataset_info, model_info(model, revision, detector.model.config), faces,
                          degrade)
    if not state.is_main_process:  # every process has every row and the metrics; one writes and pushes them
        return EvaluationResult(metrics=metrics, rows=rows, output_dir=Path(output_dir))
    files, commit_url = write_and_push(rows, metrics, detector.model.config, output_dir := Path(output_dir), push_repo)
    return EvaluationResult(metrics=metrics, rows=rows, output_dir=output_dir, files=files, commit_url=commit_url)


def run_metrics(rows: list[Prediction], scorer: Scorer, dataset_info: dict, model: dict, faces: str,
                degrade: str | None) -> dict[str, Any]:
    """`metrics.json`: model, dataset, settings and metrics; what loading found (files left out...) warns first."""
    warnings = dataset_info.pop("warnings", [])
    metrics = {"model": {**model, "detection_max_side": scorer.detector.face_detector.max_side},
               "dataset": dataset_info, "faces": faces, "degrade": degrade,
               **({"videos": scorer.video_options} if scorer.mode == "videos" else {}),
               **compute_metrics(rows, scorer.detector.model.config)}
    metrics["warnings"] = warnings + metrics["warnings"]
    return metrics


def write_and_push(rows: list[Prediction], metrics: dict, config, output_dir: Path,
                   push_repo: str | None) -> tuple[dict[str, Path], str | None]:
    """Write the results, then push them (when `push_repo`); each failure says what to do, and a failed push says
    where the written results are."""
    try:
        files = write_results(rows, metrics, config, output_dir)
    except OSError as error:
        raise EvaluationError(f"Could not write the results to {output_dir}: {first_line(error)}. "
                              "Free some space or choose another output_dir (--output-dir).") from error
    try:
        commit_url = push_results(files, metrics, push_repo) if push_repo else None
    except (HfHubHTTPError, OSError) as error:
        raise EvaluationError(f"{hub_failure('push the results to', push_repo, error)} The results are written in "
                              f"{output_dir}.") from error
    return files, commit_url


def check_options(faces: str, batch_size: int, limit: int | None) -> None:
    """Refuse settings that cannot work before any data is loaded."""
    if faces not in FACE_MODES:
        raise EvaluationError(f"faces must be one of {FACE_MODES}, got {faces!r}.")
    if batch_size < 1:
        raise EvaluationError(f"batch_size must be at least 1, got {batch_size}.")
    if limit is not None and limit < 1:
        raise EvaluationError(f"limit must be at least 1 (or None for every row), got {limit}.")


def check_output_dir(output_dir: Path) -> None:
    """Refuse, before any image is scored, a results folder that cannot be made or written (`folder_problem`)."""
    reason = folder_problem(output_dir)
    if reason:
        raise EvaluationError(f"Cannot write the results to {output_dir}: {reason}. Choose another output_dir "
                              "(--output-dir).")


def media_column(table: datasets.Dataset, image_column: str) -> tuple[datasets.Dataset, str, bool]:
    """The table ready to read (images left undecoded) and the column to read: the image column, or its videos'."""
    if VIDEO_COLUMN in table.column_names and image_column not in table.column_names:
        return table, VIDEO_COLUMN, True
    return image_column_undecoded(table, image_column), image_column, False


def detector_for(model, revision: str | None, detection_max_side: int | None, state) -> DeepfakeDetectionPipeline:
    """The pipeline given, or the one loaded for `model` (on this process's device under `accelerate launch`)."""
    if isinstance(model, DeepfakeDetectionPipeline):
        if detection_max_side is not None:  # the pipeline's detector is already built: it would be silently ignored
            raise ValueError("detection_max_side applies when evaluate loads the model; for a loaded pipeline, set it "
                             "when loading: load_pipeline(model, detection_max_side=...).")
        return model
    placement = {"device": state.device} if state.num_processes > 1 else {}
    return load_pipeline(model, revision, detection_max_side=detection_max_side, **placement)


def process_state():
    """This process's place among those `accelerate launch` started (one process, when run directly)."""
    from accelerate import PartialState

    return PartialState()


def shard_for_process(table: datasets.Dataset, indices: list[int], state) -> tuple[datasets.Dataset, list[int]]:
    """This process's contiguous shard of the rows (`datasets`' `split_dataset_by_node`) and their row indices."""
    if state.num_processes == 1:
        return table, indices
    from datasets.distributed import split_dataset_by_node

    numbered = table.add_column(ROW_COLUMN, indices)
    shard = split_dataset_by_node(numbered, rank=state.process_index, world_size=state.num_processes)
    return shard.remove_columns(ROW_COLUMN), list(shard[ROW_COLUMN])


def gather_rows(rows: list[Prediction], state) -> list[Prediction]:
    """Every process's rows, in row order, on every process (accelerate's `gather_object`)."""
    if state.num_processes == 1:
        return rows
    from accelerate.utils import gather_object

    return sorted(gather_object(rows), key=lambda row: row.index)


def _push_repo(model, push_to_hub: bool | str) -> str | None:
    """The model repo results go to, checked before any work is done."""
    if not push_to_hub:
        return None
    if isinstance(push_to_hub, str):
        return push_to_hub
    model_id = str(model or default_model_id()) if not isinstance(model, DeepfakeDetectionPipeline) else None
    if model_id is None or is_local(model_id):
        raise EvaluationError(
            "push_to_hub=True needs a Hub model id to push to; this model is local. Pass the repo id instead "
            "(--push-to-hub org/name)."
        )
    return model_id


def model_info(model, revision: str | None, config) -> dict[str, Any]:
    """Which model was evaluated: Hub id and commit sha, or the local folder's path."""
    if isinstance(model, DeepfakeDetectionPipeline):
        name = model.model.name_or_path or "in-memory"
        return {"id": name, "revision": revision, "local": True, "threshold": config.threshold,
                "score_label": config.score_label}
    model = str(model or default_model_id())
    if is_local(model):
        return {"id": str(Path(model).resolve()), "revision": None, "local": True, "threshold": config.threshold,
                "score_label": config.score_label}
    try:
        sha = HfApi().model_info(model, revision=revision).sha
    except (HfHubHTTPError, OSError, ValueError):
        sha = revision
    return {"id": model, "revision": sha, "requested_revision": revision, "local": False,
            "threshold": config.threshold, "score_label": config.score_label}


class Scorer:
    """How rows become scores: faces detected in images (`detect`), images taken as crops (`crops`), or `videos`
    (each analysed over time; `num_faces` then counts the people found)."""

    def __init__(self, detector: DeepfakeDetectionPipeline, mode: str, video_options: dict | None = None,
                 degrade: str | None = None):
        self.detector, self.mode, self.video_options, self.degrade = detector, mode, video_options or {}, degrade

    def read(self, value: Any):
        """A dataset cell as what the detector takes: an image (degraded when asked), or a video's path."""
        return image_path(value) if self.mode == "videos" else degrade_image(read_image_value(value), self.degrade)

    def __call__(self, items: list) -> list[dict[str, Any]]:
        """One dict of `Prediction` fields per item: the scores of its most suspicious face or person, or why none."""
        if self.mode == "crops":
            return [
                {"fake_score": crop.probabilities["fake"], "score": crop.score, "predicted_label": crop.label,
                 "num_faces": 1}
                for crop in self.detector.classify_crops(items, batch_size=len(items))
            ]
        results = []
        for output in self.detector(items, batch_size=len(items), video_options=self.video_options):
            suspect = output.suspect
            if output.error is not None:
                results.append({"num_faces": 0, "status": "unreadable", "error": output.error})
            elif suspect is None:  # no face at all, or only faces too small to judge: counted apart, never dropped
                results.append({"num_faces": 0, "status": "too_small" if output.all_too_small else "no_face",
                                "error": output.message})
            else:
                results.append({"fake_score": output.fake_probability, "score": suspect.score,
                                "predicted_label": output.label,
                                "num_faces": output.num_tracks if self.mode == "videos" else output.num_faces})
        return results


def predict_rows(
    scorer: Scorer,
    table: datasets.Dataset,
    image_column: str,
    label_column: str,
    labels: dict[Any, str],
    batch_size: int,
    indices: list[int] | None = None,
    progress: bool = True,
) -> list[Prediction]:
    """One `Prediction` per row, in dataset order: true label, scores, predicted label, faces found, any error."""
    indices = indices if indices is not None else list(range(len(table)))
    rows = []
    unit = "video" if scorer.mode == "videos" else "image"
    with tqdm(total=len(table), desc=f"Evaluating ({scorer.mode})", unit=unit, disable=not progress) as bar:
        for start in range(0, len(table), batch_size):
            batch = table[start : start + batch_size]
            readable, items = [], []
            for offset, (value, label) in enumerate(zip(batch[image_column], batch[label_column])):
                row = Prediction(index=indices[start + offset], path=image_path(value), label=labels.get(label))
                rows.append(row)
                try:
                    items.append(scorer.read(value))
                    readable.append(row)
                except ImageLoadError as error:
                    row.status, row.error = "unreadable", str(error)
            if items:
                for row, result in zip(readable, scorer(items)):
                    for name, value in result.items():
                        setattr(row, name, value)
            bar.update(len(batch[label_column]))
    for row in rows:
        if row.label is None and row.scored:
            row.status, row.error = "unlabelled", "The row has no label."
    return rows
