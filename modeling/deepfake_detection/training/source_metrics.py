"""Validation metrics of a mixture, source by source and family by family, and the rule that keeps the best model.

A source or family of fakes only (generated faces) has no reals of its own: it is scored against the reals of its
own dataset entry, so a GAN face is compared with the photos it was meant to pass for, not with another dataset's
video frames. A source of reals only is scored against its entry's fakes, and by the share of its faces called fake.
"""

from __future__ import annotations

import re

import numpy as np

from ..metrics import ranking_metrics
from .crops import FAKE, REAL
from .mixture import SourcedCrops

MIN_FAMILY_FAKES = 20
"""A family needs at least this many validation fakes to take part in the selection rule (fewer is noise)."""
SELECTION_RULE = (
    f"the worst ROC-AUC over the fake families with at least {MIN_FAMILY_FAKES} validation faces, each family's fakes "
    "scored against the reals of its own dataset"
)
"""How the best model is chosen, in words, for `best.json` and the model card."""


def metric_name(name: str) -> str:
    """A source or family name as a metric key part: letters, digits and underscores."""
    return re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").lower()


def _pair_auc(fake_scores: np.ndarray, real_scores: np.ndarray) -> float:
    if not len(fake_scores) or not len(real_scores):
        return float("nan")
    is_fake = np.r_[np.ones(len(fake_scores), bool), np.zeros(len(real_scores), bool)]
    return ranking_metrics(is_fake, np.r_[fake_scores, real_scores])["roc_auc"]


def source_metrics(sourced: SourcedCrops, fake_scores: np.ndarray, called_fake: np.ndarray) -> dict[str, float]:
    """Per family and per source: ROC-AUC (fake = positive), the share of reals called fake and of fakes caught
    (`called_fake`: the verdict at the shipped threshold), plus `selection_score` (`SELECTION_RULE`). Families count
    only their trained sources; a held-out source is reported on its own (`held_out_*`)."""
    labels = sourced.crops.labels
    metrics: dict[str, float] = {}
    family_aucs = []
    trained = ~sourced.held_out_mask
    for family_id, family in enumerate(sourced.families):
        fakes = (sourced.family_ids == family_id) & (labels == FAKE) & trained
        if not fakes.any():
            continue
        entry_reals = np.isin(sourced.entry_ids, np.unique(sourced.entry_ids[fakes])) & (labels == REAL)
        auc = _pair_auc(fake_scores[fakes], fake_scores[entry_reals if entry_reals.any() else labels == REAL])
        metrics[f"family_{metric_name(family)}_roc_auc"] = auc
        metrics[f"family_{metric_name(family)}_fakes_caught"] = float(called_fake[fakes].mean())
        if fakes.sum() >= MIN_FAMILY_FAKES and not np.isnan(auc):
            family_aucs.append(auc)
    for source_id, source in enumerate(sourced.sources):
        members = sourced.source_ids == source_id
        entry = sourced.entry_ids == sourced.entry_ids[members][0] if members.any() else members
        reals, fakes = members & (labels == REAL), members & (labels == FAKE)
        other_reals, other_fakes = entry & (labels == REAL), entry & (labels == FAKE)
        auc = _pair_auc(fake_scores[fakes if fakes.any() else other_fakes],
                        fake_scores[reals if reals.any() else other_reals])
        key = f"{'held_out' if source in sourced.held_out else 'source'}_{metric_name(source)}"
        metrics[f"{key}_roc_auc"] = auc
        if reals.any():
            metrics[f"{key}_real_called_fake"] = float(called_fake[reals].mean())
        if fakes.any():
            metrics[f"{key}_fakes_caught"] = float(called_fake[fakes].mean())
    metrics["selection_score"] = float(min(family_aucs)) if family_aucs else float("nan")
    return metrics
