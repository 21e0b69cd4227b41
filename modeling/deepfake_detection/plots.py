"""Plots of results, drawn with Agg (no display needed): confusion matrix, ROC curve, score histogram, reliability
diagram of P(real), and a video's timeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn import metrics as skm
from sklearn.calibration import CalibrationDisplay

from .metrics import CLASS_ORDER, NEGATIVE_LABEL, POSITIVE_LABEL, Prediction

PLOT_FILES = {
    "confusion_matrix": "confusion_matrix.png",
    "roc_curve": "roc_curve.png",
    "score_histogram": "score_histogram.png",
    "reliability": "reliability_diagram.png",
}
"""Each plot's name and its file in a results folder."""

def _figure() -> tuple[Figure, Any]:
    figure = Figure(figsize=(6, 5), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def save_plots(rows: Sequence[Prediction], metrics: dict[str, Any], config, output_dir: Path) -> dict[str, Path]:
    """The confusion matrix, the ROC curve (both classes needed) and the score histogram, drawn with Agg."""
    scored = [row for row in rows if row.scored]
    if not scored:
        return {}
    where = f"{metrics['dataset']['id']} ({metrics['dataset']['split']})"
    figures = {"confusion_matrix": confusion_matrix_figure(scored, config, where),
               "score_histogram": histogram_figure(scored, config, where)}
    if metrics.get("roc_auc") is not None:
        figures["roc_curve"] = roc_figure(scored, metrics, where)
        figures["reliability"] = reliability_figure(scored, metrics, where)
    files = {}
    for name in PLOT_FILES:
        if name in figures:
            files[name] = output_dir / PLOT_FILES[name]
            figures[name].savefig(files[name], dpi=120)
    return files


def confusion_matrix_figure(scored: Sequence[Prediction], config, where: str) -> Figure:
    """The confusion matrix at the config's threshold (sklearn's display), titled with where the data came from."""
    figure, ax = _figure()
    skm.ConfusionMatrixDisplay.from_predictions(
        [row.label for row in scored], [row.predicted_label for row in scored], labels=list(CLASS_ORDER), ax=ax,
        colorbar=False,
    )
    ax.set_title(f"Threshold {config.threshold} on P({config.score_label})\n{where}", fontsize=9)
    return figure


def roc_figure(scored: Sequence[Prediction], metrics: dict[str, Any], where: str) -> Figure:
    """The ROC curve of the fake probability (sklearn's display), with its AUC."""
    figure, ax = _figure()
    skm.RocCurveDisplay.from_predictions(
        [row.label for row in scored], [row.fake_score for row in scored], pos_label=POSITIVE_LABEL, ax=ax,
        name=f"fake vs real (EER {metrics['eer']:.3f})", plot_chance_level=True,
    )
    ax.set_title(where, fontsize=9)
    return figure


def reliability_figure(scored: Sequence[Prediction], metrics: dict[str, Any], where: str, bins: int = 10) -> Figure:
    """How often faces given P(real) = p are real, against p (sklearn's calibration display), with the ECE."""
    figure, ax = _figure()
    CalibrationDisplay.from_predictions(
        [row.label == NEGATIVE_LABEL for row in scored], [1.0 - row.fake_score for row in scored], n_bins=bins, ax=ax,
        name=f"P(real) (ECE {metrics['ece']:.3f})",
    )
    ax.set_xlabel("mean P(real) in the bin")
    ax.set_ylabel("share of real faces in the bin")
    ax.set_title(where, fontsize=9)
    return figure


def histogram_figure(scored: Sequence[Prediction], config, where: str) -> Figure:
    """Fake probabilities of real and of fake images, with the threshold: how well the classes separate."""
    figure, ax = _figure()
    bins = np.linspace(0, 1, 26)
    for label in (NEGATIVE_LABEL, POSITIVE_LABEL):
        values = [row.fake_score for row in scored if row.label == label]
        ax.hist(values, bins=bins, alpha=0.6, label=f"{label} (n={len(values)})")
    cut = config.score_for_fake_probability(config.threshold)  # the same cut on the fake-probability axis
    ax.axvline(cut, color="black", linestyle="--", label=f"threshold ({config.threshold} on P({config.score_label}))")
    ax.set_xlabel("fake probability")
    ax.set_ylabel("images")
    ax.set_title(where, fontsize=9)
    ax.legend()
    return figure


def timeline_figure(result, config, threshold: float | None = None) -> Figure:
    """Fake probability over time, one line per person (track), with the decision threshold (the config's, or the
    one given) drawn on the fake-probability scale."""
    threshold = config.threshold if threshold is None else threshold
    figure, ax = _figure()
    for track in result.tracks:
        ax.plot(track.times_s, track.fake_probabilities, marker="o", markersize=3,
                label=f"person {track.track_id}: {track.label} ({result.aggregation} {track.probabilities['fake']:.2f})")
    cut = config.score_for_fake_probability(threshold)
    ax.axhline(cut, color="black", linestyle="--", label=f"threshold ({threshold:g} on P({config.score_label}))")
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("fake probability")
    ax.legend(fontsize=8)
    return figure


