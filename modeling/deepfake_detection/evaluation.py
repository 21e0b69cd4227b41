"""Evaluation on a labelled image dataset: a prediction per image, threshold-free metrics, plots, and model-index.

Fake is the positive class (the field's convention) for precision, recall, F1, ROC-AUC, average precision and EER.
Images without a detected face and unreadable images get a row in `predictions.csv` with their reason and are left
out of every metric; `metrics.json` counts them.
"""

from __future__ import annotations

import csv
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from huggingface_hub import CommitOperationAdd, EvalResult, HfApi, ModelCard, ModelCardData
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn import metrics as skm
from tqdm.auto import tqdm

from .configuration_deepfake_detector import LABELS
from .dataset import DatasetFolderError, build_dataset
from .images import ImageLoadError, load_image
from .hub import default_dataset_id, default_model_id, first_line, is_local, load_pipeline
from .pipeline import DeepfakeDetectionPipeline

FACE_MODES = ("detect", "crops")
POSITIVE_LABEL = "fake"
NEGATIVE_LABEL = "real"
PREFERRED_SPLITS = ("test", "validation")
LIMIT_SEED = 0
PREDICTION_COLUMNS = (
    "index", "path", "label", "fake_score", "score", "predicted_label", "num_faces", "status", "error"
)
EXCLUSION_NOTE = (
    "Images without a detected face (status no_face), unreadable images (status unreadable) and images without a "
    "label (status unlabelled) have no score: they are listed in predictions.csv with their reason, counted here, "
    "and left out of every metric."
)
THRESHOLD_NOTE = (
    "Thresholds are on the model's score scale, P(score_label), like config.threshold: a face gets score_label "
    "when its score is strictly above the threshold."
)
METRIC_NAMES = {
    "accuracy": "Accuracy",
    "precision": "Precision (fake)",
    "recall": "Recall (fake)",
    "f1": "F1 (fake)",
    "roc_auc": "ROC-AUC",
    "average_precision": "Average precision (fake)",
    "eer": "Equal error rate",
}
THRESHOLDED_METRICS = ("accuracy", "precision", "recall", "f1")
TASK_TYPE = "image-classification"
TASK_NAME = "Deepfake detection"


class EvaluationError(ValueError):
    """The evaluation cannot run as asked; the message says what to change."""


class PolarityWarning(UserWarning):
    """ROC-AUC below 0.5: the model's `score_label` probably means the other class."""


@dataclass
class EvaluationResult:
    """What `evaluate` produced: the metrics, one row per image, the files written, and the Hub commit if pushed."""

    metrics: dict[str, Any]
    rows: list[dict[str, Any]]
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
) -> EvaluationResult:
    """Evaluate a detector on one split of a labelled dataset; write predictions, metrics and plots to `output_dir`.

    `model` is a Hub id, a local model folder or a loaded pipeline; `dataset` a Hub id, a local folder (imagefolder,
    `save_to_disk` output, or `real_*`/`fake_*` files) or a `datasets.Dataset`. `faces="detect"` finds faces in each
    image (its score is that of the most suspicious face); `faces="crops"` takes each image as one face crop.
    `limit` evaluates a seeded random sample of that many rows. `push_to_hub` uploads the results under `eval/` of the
    model repo (or of the repo id given) and writes them into its card's `model-index`. `detection_max_side` opts
    into faster, slightly different face detection (see `DeepfakeDetectionPipeline`); metrics.json records it.
    """
    if faces not in FACE_MODES:
        raise EvaluationError(f"faces must be one of {FACE_MODES}, got {faces!r}.")
    if batch_size < 1:
        raise EvaluationError(f"batch_size must be at least 1, got {batch_size}.")
    if limit is not None and limit < 1:
        raise EvaluationError(f"limit must be at least 1 (or None for every row), got {limit}.")
    push_repo = _push_repo(model, push_to_hub)
    table, dataset_info = load_split(dataset, split=split, revision=dataset_revision)
    labels = label_mapping(table, label_column, list(LABELS))
    table = image_column_undecoded(table, image_column)
    if isinstance(model, DeepfakeDetectionPipeline):
        detector = model
    else:
        detector = load_pipeline(model, revision, detection_max_side=detection_max_side)
    config = detector.model.config
    indices = list(range(len(table)))
    if limit is not None and limit < len(table):
        indices = sorted(np.random.default_rng(LIMIT_SEED).permutation(len(table))[:limit].tolist())
        table = table.select(indices)

    rows = predict_rows(detector, table, image_column, label_column, labels, faces, batch_size, indices, progress)
    metrics = {
        "model": {**model_info(model, revision, config), "detection_max_side": detector.face_detector.max_side},
        "dataset": {
            **dataset_info,
            "image_column": image_column,
            "label_column": label_column,
            "label_mapping": {str(value): name for value, name in labels.items()},
            "limit": limit,
            "sample": f"random rows (seed {LIMIT_SEED})" if len(indices) < dataset_info["rows_in_split"] else "all",
        },
        "faces": faces,
        **compute_metrics(rows, config),
    }
    output_dir = Path(output_dir)
    files = write_results(rows, metrics, config, output_dir)
    commit_url = push_results(files, metrics, push_repo) if push_repo else None
    return EvaluationResult(metrics=metrics, rows=rows, output_dir=output_dir, files=files, commit_url=commit_url)


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


def _split_names(dataset: str, revision: str | None = None) -> list[str]:
    try:
        return datasets.get_dataset_split_names(dataset, revision=revision)
    except (FileNotFoundError, datasets.exceptions.DatasetNotFoundError, HfHubHTTPError, ValueError) as error:
        raise EvaluationError(
            f"Could not load the dataset {dataset!r}: {first_line(error)}\n"
            "Pass a Hub dataset id you can reach, a local folder (real/ and fake/ subfolders, or real_*/fake_* "
            "files), or publish one with scripts/push_dataset.py."
        ) from error


def _load_dataset(dataset: str, split: str, revision: str | None = None) -> datasets.Dataset:
    return datasets.load_dataset(dataset, split=split, revision=revision)


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


def read_image_value(value: Any):
    """A dataset's image cell (`{"bytes", "path"}`, a path or an image) as an RGB PIL image, or `ImageLoadError`."""
    if isinstance(value, dict):
        if value.get("bytes"):
            return load_image(value["bytes"])
        if value.get("path"):
            return load_image(value["path"])
        raise ImageLoadError("The image entry is empty (no bytes, no path).")
    return load_image(value)


def _image_path(value: Any) -> str:
    if isinstance(value, dict):
        return value.get("path") or ""
    return str(value) if isinstance(value, (str, os.PathLike)) else ""


def predict_rows(
    detector: DeepfakeDetectionPipeline,
    table: datasets.Dataset,
    image_column: str,
    label_column: str,
    labels: dict[Any, str],
    faces: str,
    batch_size: int,
    indices: list[int] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """One row per image, in dataset order: true label, fake score, predicted label, faces found, and any error."""
    indices = indices if indices is not None else list(range(len(table)))
    rows = []
    with tqdm(total=len(table), desc=f"Evaluating ({faces})", unit="image", disable=not progress) as bar:
        for start in range(0, len(table), batch_size):
            batch = table[start : start + batch_size]
            readable, images = [], []
            for offset, (value, label) in enumerate(zip(batch[image_column], batch[label_column])):
                row = {column: None for column in PREDICTION_COLUMNS}
                row.update(index=indices[start + offset], path=_image_path(value), label=labels.get(label),
                           status="ok", error="")
                rows.append(row)
                try:
                    images.append(read_image_value(value))
                    readable.append(row)
                except ImageLoadError as error:
                    row.update(status="unreadable", error=str(error))
            if images:
                scored = score_faces(detector, images) if faces == "detect" else score_crops(detector, images)
                for row, result in zip(readable, scored):
                    row.update(result)
            bar.update(len(batch[label_column]))
    for row in rows:
        if row["label"] is None and row["status"] == "ok":
            row.update(status="unlabelled", error="The row has no label.")
    return rows


def score_faces(detector: DeepfakeDetectionPipeline, images: list) -> list[dict[str, Any]]:
    """Full pipeline per image: the score of its most suspicious face, or why there is none."""
    results = []
    for output in detector(images, batch_size=len(images)):
        if output["label"] is None:
            results.append({"num_faces": 0, "status": "no_face", "error": output["message"]})
            continue
        suspect = max(output["faces"], key=lambda face: face["probabilities"]["fake"])
        results.append(
            {
                "fake_score": output["fake_probability"],
                "score": suspect["score"],
                "predicted_label": output["label"],
                "num_faces": output["num_faces"],
            }
        )
    return results


def score_crops(detector: DeepfakeDetectionPipeline, images: list) -> list[dict[str, Any]]:
    """Each image taken as one face crop, classified without face detection."""
    return [
        {
            "fake_score": crop["probabilities"]["fake"],
            "score": crop["score"],
            "predicted_label": crop["label"],
            "num_faces": 1,
        }
        for crop in detector.classify_crops(images, batch_size=len(images))
    ]


def operating_points(is_score_label: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """Every ROC operating point on the model's score scale, with a `label_for` threshold that reproduces it.

    sklearn's point k predicts `score_label` when `score >= thresholds[k]`; the midpoint between that threshold and the
    next lower score gives the same split with `label_for`'s strict `score > threshold`.
    """
    fpr, tpr, thresholds = skm.roc_curve(is_score_label, scores, drop_intermediate=False)
    upper = np.minimum(thresholds, 1.0)
    lower = np.append(thresholds[1:], 0.0)
    return {"fpr": fpr, "tpr": tpr, "threshold": (upper + lower) / 2}


def compute_metrics(rows: list[dict[str, Any]], config) -> dict[str, Any]:
    """Counts, thresholded metrics at `config.threshold`, and threshold-free metrics from the scores."""
    statuses = [row["status"] for row in rows]
    scored = [row for row in rows if row["status"] == "ok"]
    y_true = np.array([row["label"] == POSITIVE_LABEL for row in scored], dtype=int)
    y_pred = np.array([row["predicted_label"] == POSITIVE_LABEL for row in scored], dtype=int)
    fake_scores = np.array([row["fake_score"] for row in scored], dtype=float)
    scores = np.array([row["score"] for row in scored], dtype=float)
    labelled = [row["label"] for row in rows if row["label"] is not None]
    metrics: dict[str, Any] = {
        "positive_label": POSITIVE_LABEL,
        "score_label": config.score_label,
        "threshold": config.threshold,
        "n": len(rows),
        "n_scored": len(scored),
        "n_no_face": statuses.count("no_face"),
        "n_unreadable": statuses.count("unreadable"),
        "n_unlabelled": statuses.count("unlabelled"),
        "excluded": EXCLUSION_NOTE,
        "class_counts": {label: labelled.count(label) for label in (NEGATIVE_LABEL, POSITIVE_LABEL)},
        "scored_class_counts": {
            label: sum(row["label"] == label for row in scored) for label in (NEGATIVE_LABEL, POSITIVE_LABEL)
        },
        "threshold_note": THRESHOLD_NOTE,
        "warnings": [],
    }
    if not scored:
        metrics["warnings"].append("No image could be scored: every metric is empty.")
        return metrics
    matrix = skm.confusion_matrix(y_true, y_pred, labels=[0, 1])
    metrics.update(
        accuracy=float(skm.accuracy_score(y_true, y_pred)),
        balanced_accuracy=float(skm.balanced_accuracy_score(y_true, y_pred)) if len(set(y_true)) == 2 else None,
        precision=float(skm.precision_score(y_true, y_pred, zero_division=0)),
        recall=float(skm.recall_score(y_true, y_pred, zero_division=0)),
        f1=float(skm.f1_score(y_true, y_pred, zero_division=0)),
        confusion_matrix={"labels": [NEGATIVE_LABEL, POSITIVE_LABEL], "rows": "true", "columns": "predicted",
                          "matrix": matrix.tolist()},
    )
    if len(set(y_true)) < 2:
        metrics["warnings"].append(
            "Only one class among the scored images: ROC-AUC, average precision, EER and the best threshold need both."
        )
        return metrics
    points = operating_points((np.array([row["label"] for row in scored]) == config.score_label).astype(int), scores)
    false_negative_rate = 1 - points["tpr"]
    eer_index = int(np.argmin(np.abs(false_negative_rate - points["fpr"])))
    balanced = (points["tpr"] + 1 - points["fpr"]) / 2
    best_index = int(np.argmax(balanced))
    metrics.update(
        roc_auc=float(skm.roc_auc_score(y_true, fake_scores)),
        average_precision=float(skm.average_precision_score(y_true, fake_scores)),
        eer=float((points["fpr"][eer_index] + false_negative_rate[eer_index]) / 2),
        eer_threshold=float(points["threshold"][eer_index]),
        best_balanced_accuracy=float(balanced[best_index]),
        best_balanced_accuracy_threshold=float(points["threshold"][best_index]),
    )
    if metrics["roc_auc"] < 0.5:
        message = (
            f"ROC-AUC is {metrics['roc_auc']:.3f}, below 0.5: for a trained model, the score polarity looks inverted. "
            f"The config says the score is P({config.score_label}); check score_label (try {config.other_label!r})."
        )
        warnings.warn(message, PolarityWarning, stacklevel=3)
        metrics["warnings"].append(message)
    return metrics


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


def write_results(rows: list[dict[str, Any]], metrics: dict[str, Any], config, output_dir: Path) -> dict[str, Path]:
    """Write predictions.csv, metrics.json and the plots; return them by name."""
    output_dir.mkdir(parents=True, exist_ok=True)
    files = {"predictions": output_dir / "predictions.csv", "metrics": output_dir / "metrics.json"}
    with files["predictions"].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=PREDICTION_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    files["metrics"].write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    files.update(save_plots(rows, metrics, config, output_dir))
    return files


def _figure() -> tuple[Figure, Any]:
    figure = Figure(figsize=(6, 5), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def save_plots(rows: list[dict[str, Any]], metrics: dict[str, Any], config, output_dir: Path) -> dict[str, Path]:
    """confusion_matrix.png, roc_curve.png (both classes needed) and score_histogram.png, drawn with Agg."""
    scored = [row for row in rows if row["status"] == "ok"]
    if not scored:
        return {}
    files = {}
    true_labels = [row["label"] for row in scored]
    fake_scores = np.array([row["fake_score"] for row in scored])
    where = f"{metrics['dataset']['id']} ({metrics['dataset']['split']})"

    figure, ax = _figure()
    skm.ConfusionMatrixDisplay.from_predictions(
        true_labels, [row["predicted_label"] for row in scored], labels=[NEGATIVE_LABEL, POSITIVE_LABEL], ax=ax,
        colorbar=False,
    )
    ax.set_title(f"Threshold {config.threshold} on P({config.score_label})\n{where}", fontsize=9)
    files["confusion_matrix"] = output_dir / "confusion_matrix.png"
    figure.savefig(files["confusion_matrix"], dpi=120)

    if metrics.get("roc_auc") is not None:
        figure, ax = _figure()
        skm.RocCurveDisplay.from_predictions(
            true_labels, fake_scores, pos_label=POSITIVE_LABEL, ax=ax,
            name=f"fake vs real (EER {metrics['eer']:.3f})", plot_chance_level=True,
        )
        ax.set_title(where, fontsize=9)
        files["roc_curve"] = output_dir / "roc_curve.png"
        figure.savefig(files["roc_curve"], dpi=120)

    figure, ax = _figure()
    bins = np.linspace(0, 1, 26)
    for label in (NEGATIVE_LABEL, POSITIVE_LABEL):
        values = [row["fake_score"] for row in scored if row["label"] == label]
        ax.hist(values, bins=bins, alpha=0.6, label=f"{label} (n={len(values)})")
    cut = config.threshold if config.score_label == POSITIVE_LABEL else 1 - config.threshold
    ax.axvline(cut, color="black", linestyle="--", label=f"threshold ({config.threshold} on P({config.score_label}))")
    ax.set_xlabel("fake probability")
    ax.set_ylabel("images")
    ax.set_title(where, fontsize=9)
    ax.legend()
    files["score_histogram"] = output_dir / "score_histogram.png"
    figure.savefig(files["score_histogram"], dpi=120)
    return files


def eval_results(metrics: dict[str, Any]) -> list[EvalResult]:
    """The metrics as `EvalResult`s for the card's model-index; metrics that could not be computed are left out."""
    dataset = metrics["dataset"]
    results = []
    for key, name in METRIC_NAMES.items():
        if metrics.get(key) is None:
            continue
        args = {"positive_label": POSITIVE_LABEL, "faces": metrics["faces"]}
        if key in THRESHOLDED_METRICS:
            args.update(threshold=metrics["threshold"], score_label=metrics["score_label"])
        results.append(
            EvalResult(
                task_type=TASK_TYPE,
                task_name=TASK_NAME,
                dataset_type=dataset["id"],
                dataset_name=dataset["id"],
                dataset_split=dataset["split"],
                dataset_revision=dataset["revision"],
                metric_type=key,
                metric_name=name,
                metric_value=metrics[key],
                metric_args=args,
            )
        )
    return results


def card_with_results(repo_id: str, metrics: dict[str, Any]) -> ModelCard:
    """The repo's model card with these results in its model-index; other results, metadata and text are kept.

    Earlier results for the same dataset and split are replaced.
    """
    try:
        card = ModelCard.load(repo_id)
    except EntryNotFoundError:
        data = ModelCardData(library_name="transformers", pipeline_tag=TASK_TYPE, tags=["deepfake-detection"])
        card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n# {repo_id.split('/')[-1]}\n")
    new = eval_results(metrics)
    same = {(result.task_type, result.dataset_type, result.dataset_config, result.dataset_split) for result in new}
    kept = [
        result
        for result in card.data.eval_results or []
        if (result.task_type, result.dataset_type, result.dataset_config, result.dataset_split) not in same
    ]
    card.data.eval_results = kept + new
    card.data.model_name = card.data.model_name or repo_id.split("/")[-1]
    return card


def results_folder(metrics: dict[str, Any]) -> str:
    """Where in the model repo these results go: `eval/<dataset>-<split>`."""
    dataset = metrics["dataset"]
    name = dataset["id"] if not Path(dataset["id"]).is_absolute() else Path(dataset["id"]).name
    return f"eval/{re.sub(r'[^A-Za-z0-9._-]+', '-', name.replace('/', '--'))}-{dataset['split']}"


def push_results(files: dict[str, Path], metrics: dict[str, Any], repo_id: str) -> str:
    """Upload the result files under `eval/` and the updated model card to `repo_id` in one commit; return its URL."""
    folder = results_folder(metrics)
    card = card_with_results(repo_id, metrics)
    operations = [CommitOperationAdd(f"{folder}/{path.name}", str(path)) for path in files.values()]
    operations.append(CommitOperationAdd("README.md", card.content.encode("utf-8")))
    dataset = metrics["dataset"]
    commit = HfApi().create_commit(
        repo_id, operations, commit_message=f"Evaluation on {dataset['id']} ({dataset['split']})"
    )
    return commit.commit_url
