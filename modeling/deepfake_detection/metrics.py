"""Metrics of a detector from its predictions: pure functions of the scores and labels, no I/O.

Fake is the positive class (the field's convention) for precision, recall, F1, ROC-AUC, average precision and EER.
Thresholds reported here are on the model's own score scale, P(`score_label`), like `config.threshold`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from sklearn import metrics as skm

from .errors import PolarityWarning

POSITIVE_LABEL = "fake"
NEGATIVE_LABEL = "real"
CLASS_ORDER = (NEGATIVE_LABEL, POSITIVE_LABEL)
EXCLUSION_NOTE = (
    "Images without a detected face (status no_face), images whose every face is too small to judge (status "
    "too_small, under the model's min_judged_face), unreadable images (status unreadable) and images without a "
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
    "real_called_fake": "Real faces called fake",
    "fakes_caught": "Fakes caught",
    "ece": "Expected calibration error of P(real)",
}
THRESHOLDED_METRICS = ("accuracy", "precision", "recall", "f1", "real_called_fake", "fakes_caught")


@dataclass
class Prediction:
    """One evaluated image, as a row of `predictions.csv`: where it is, its true `label`, the model's `score`
    (P(`score_label`)) and `fake_score` (P(fake)) of its most suspicious face, the `predicted_label`, and the `status`
    (`ok`, `no_face`, `too_small`, `unreadable`, `unlabelled`) with the `error` that explains a missing score."""

    index: int
    path: str
    label: str | None
    fake_score: float | None = None
    score: float | None = None
    predicted_label: str | None = None
    num_faces: int | None = None
    status: str = "ok"
    error: str = ""

    @property
    def scored(self) -> bool:
        """Whether this image counts in the metrics."""
        return self.status == "ok"


def ranking_metrics(is_fake: np.ndarray, fake_scores: np.ndarray) -> dict[str, float]:
    """ROC-AUC and average precision of the fake scores (both classes needed; NaN otherwise)."""
    if not 0 < np.sum(is_fake) < len(is_fake):
        return {"roc_auc": float("nan"), "average_precision": float("nan")}
    return {
        "roc_auc": float(skm.roc_auc_score(is_fake, fake_scores)),
        "average_precision": float(skm.average_precision_score(is_fake, fake_scores)),
    }


def expected_calibration_error(is_real: np.ndarray, real_probabilities: np.ndarray, bins: int = 15) -> float:
    """How far P(real) is from the truth: over `bins` equal-width bins of P(real), the gap between the share of real
    faces and the mean P(real), weighted by the faces in each bin (the bins of `sklearn.calibration.calibration_curve`
    with strategy="uniform")."""
    probabilities = np.asarray(real_probabilities, dtype=float)
    if not len(probabilities):
        return float("nan")
    which = np.clip(np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], probabilities, side="right"), 0, bins - 1)
    truth = np.bincount(which, weights=np.asarray(is_real, dtype=float), minlength=bins)
    predicted = np.bincount(which, weights=probabilities, minlength=bins)
    return float(np.abs(truth - predicted).sum() / len(probabilities))


def operating_points(is_score_label: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """Every ROC operating point on the model's score scale, with a `label_for` threshold that reproduces it.

    sklearn's point k predicts `score_label` when `score >= thresholds[k]`; the midpoint between that threshold and the
    next lower score gives the same split with `label_for`'s strict `score > threshold`.
    """
    fpr, tpr, thresholds = skm.roc_curve(is_score_label, scores, drop_intermediate=False)
    upper = np.minimum(thresholds, 1.0)
    lower = np.append(thresholds[1:], 0.0)
    return {"fpr": fpr, "tpr": tpr, "threshold": (upper + lower) / 2}


def counts(rows: Sequence[Prediction], config) -> dict[str, Any]:
    """How many images there were, how many were scored, why the others were not, and the classes of each."""
    statuses = [row.status for row in rows]
    scored = [row for row in rows if row.scored]
    labelled = [row.label for row in rows if row.label is not None]
    return {
        "positive_label": POSITIVE_LABEL,
        "score_label": config.score_label,
        "threshold": config.threshold,
        "n": len(rows),
        "n_scored": len(scored),
        "n_no_face": statuses.count("no_face"),
        "n_too_small": statuses.count("too_small"),
        "n_unreadable": statuses.count("unreadable"),
        "n_unlabelled": statuses.count("unlabelled"),
        "excluded": EXCLUSION_NOTE,
        "class_counts": {label: labelled.count(label) for label in CLASS_ORDER},
        "scored_class_counts": {label: sum(row.label == label for row in scored) for label in CLASS_ORDER},
        "threshold_note": THRESHOLD_NOTE,
        "warnings": [],
    }


def thresholded_metrics(scored: Sequence[Prediction]) -> dict[str, Any]:
    """Accuracy, balanced accuracy, precision, recall, F1 and the confusion matrix of the predicted labels."""
    y_true = np.array([row.label == POSITIVE_LABEL for row in scored], dtype=int)
    y_pred = np.array([row.predicted_label == POSITIVE_LABEL for row in scored], dtype=int)
    matrix = skm.confusion_matrix(y_true, y_pred, labels=[0, 1])
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)) if len(set(y_true)) == 2 else None,
        "precision": float(skm.precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(skm.recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(skm.f1_score(y_true, y_pred, zero_division=0)),
        "confusion_matrix": {"labels": list(CLASS_ORDER), "rows": "true", "columns": "predicted",
                             "matrix": matrix.tolist()},
    }


def error_rates(scored: Sequence[Prediction]) -> dict[str, float | None]:
    """What users feel at the shipped threshold: the share of real faces called fake and of fakes caught (None when
    a class is absent), and the ECE of P(real) over every scored image (`expected_calibration_error`)."""
    is_real = np.array([row.label == NEGATIVE_LABEL for row in scored], dtype=bool)
    called_fake = np.array([row.predicted_label == POSITIVE_LABEL for row in scored], dtype=bool)
    real_probability = 1.0 - np.array([row.fake_score for row in scored], dtype=float)
    return {
        "real_called_fake": float(called_fake[is_real].mean()) if is_real.any() else None,
        "fakes_caught": float(called_fake[~is_real].mean()) if (~is_real).any() else None,
        "ece": expected_calibration_error(is_real, real_probability),
    }


def threshold_free_metrics(scored: Sequence[Prediction], config) -> dict[str, float]:
    """ROC-AUC, average precision, EER, and the best balanced accuracy with the threshold that reaches it."""
    is_fake = np.array([row.label == POSITIVE_LABEL for row in scored], dtype=int)
    scores = np.array([row.score for row in scored], dtype=float)
    points = operating_points(np.array([row.label == config.score_label for row in scored], dtype=int), scores)
    false_negative_rate = 1 - points["tpr"]
    eer_index = int(np.argmin(np.abs(false_negative_rate - points["fpr"])))
    balanced = (points["tpr"] + 1 - points["fpr"]) / 2
    best_index = int(np.argmax(balanced))
    return {
        **ranking_metrics(is_fake, np.array([row.fake_score for row in scored], dtype=float)),
        "eer": float((points["fpr"][eer_index] + false_negative_rate[eer_index]) / 2),
        "eer_threshold": float(points["threshold"][eer_index]),
        "best_balanced_accuracy": float(balanced[best_index]),
        "best_balanced_accuracy_threshold": float(points["threshold"][best_index]),
    }


def compute_metrics(rows: Sequence[Prediction], config) -> dict[str, Any]:
    """Counts, thresholded metrics at `config.threshold`, and threshold-free metrics from the scores."""
    metrics = counts(rows, config)
    scored = [row for row in rows if row.scored]
    if not scored:
        metrics["warnings"].append("No image could be scored: every metric is empty.")
        return metrics
    metrics.update(thresholded_metrics(scored))
    metrics.update(error_rates(scored))
    if len({row.label for row in scored}) < 2:
        metrics["warnings"].append(
            "Only one class among the scored images: ROC-AUC, average precision, EER and the best threshold need both."
        )
        return metrics
    metrics.update(threshold_free_metrics(scored, config))
    if metrics["roc_auc"] < 0.5:
        message = (
            f"ROC-AUC is {metrics['roc_auc']:.3f}, below 0.5: for a trained model, the score polarity looks inverted. "
            f"The config says the score is P({config.score_label}); check score_label (try {config.other_label!r})."
        )
        warnings.warn(message, PolarityWarning, stacklevel=3)
        metrics["warnings"].append(message)
    return metrics
