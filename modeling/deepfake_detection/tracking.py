"""Following faces through a video's sampled frames, and turning each person's scores over time into one score.

Faces in consecutive sampled frames are linked by box overlap (IoU), or by centre distance relative to the face's
size when they overlap too little (fast motion, sparse sampling); the assignment is optimal per frame pair (scipy's
Hungarian solver, imported on first use: it costs about 1 s, which images never need). A track survives `max_gap`
sampled frames without its face; one more ends it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

AGGREGATIONS = ("mean", "median", "max", "topk")
"""How a track's fake probabilities over time become one: the mean (DFDC's convention), the median, the maximum,
or the mean of the `top_k` highest."""
DEFAULT_TOP_K = 5
MIN_IOU = 0.3
MAX_CENTRE_SHIFT = 1.5
"""Largest centre movement between linked faces, in units of the face's box diagonal."""


def box_text(box: Sequence[float]) -> str:
    """A box as `x1 y1 x2 y2` text, for tables (the video CSV, the Space's frame table)."""
    return " ".join(f"{v:g}" for v in box)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two `(x1, y1, x2, y2)` boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def centre_shift(a: Sequence[float], b: Sequence[float]) -> float:
    """Distance between the boxes' centres, in units of the first box's diagonal."""
    diagonal = float(np.hypot(a[2] - a[0], a[3] - a[1])) or 1.0
    dx = (a[0] + a[2] - b[0] - b[2]) / 2
    dy = (a[1] + a[3] - b[1] - b[3]) / 2
    return float(np.hypot(dx, dy)) / diagonal


def link_cost(a: Sequence[float], b: Sequence[float]) -> float:
    """Cost of linking two boxes (lower is better; `inf` when they cannot be the same face): 1 - IoU when they overlap
    enough, else 1 + the centre shift when it is small enough."""
    iou = box_iou(a, b)
    if iou >= MIN_IOU:
        return 1.0 - iou
    shift = centre_shift(a, b)
    return 1.0 + shift if shift <= MAX_CENTRE_SHIFT else float("inf")


def link_tracks(boxes_per_frame: Sequence[Sequence[Sequence[float]]], max_gap: int = 2) -> list[list[int]]:
    """A track id for every face of every frame (same shape as `boxes_per_frame`), numbered from 1 in order of
    appearance (person 1, person 2, ...). A track can skip up to `max_gap` sampled frames (a missed detection) and still continue."""
    from scipy.optimize import linear_sum_assignment

    track_ids: list[list[int]] = []
    active: dict[int, tuple[Sequence[float], int]] = {}  # track id -> (last box, frame position last seen)
    next_id = 1
    for position, boxes in enumerate(boxes_per_frame):
        live = [tid for tid, (_, seen) in active.items() if position - seen <= max_gap + 1]
        ids = [-1] * len(boxes)
        if live and boxes:
            cost = np.array([[link_cost(active[tid][0], box) for box in boxes] for tid in live])
            finite = np.where(np.isfinite(cost), cost, 1e6)
            for row, column in zip(*linear_sum_assignment(finite)):
                if np.isfinite(cost[row, column]):
                    ids[column] = live[row]
        for index, box in enumerate(boxes):
            if ids[index] < 0:
                ids[index], next_id = next_id, next_id + 1
            active[ids[index]] = (box, position)
        track_ids.append(ids)
    return track_ids


def check_aggregation(rule: str, top_k: int = DEFAULT_TOP_K) -> None:
    """Raise `ValueError` unless `rule` is one of `AGGREGATIONS` and `top_k` is at least 1."""
    if rule not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {rule!r}.")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}.")


def aggregate(values: Sequence[float], rule: str = "mean", top_k: int = DEFAULT_TOP_K) -> float:
    """One number for a track's fake probabilities over time, by `rule` (see `AGGREGATIONS`)."""
    check_aggregation(rule, top_k)
    if len(values) == 0:
        raise ValueError("aggregate needs at least one value.")
    array = np.asarray(values, dtype=float)
    if rule == "mean":
        return float(array.mean())
    if rule == "median":
        return float(np.median(array))
    if rule == "max":
        return float(array.max())
    return float(np.sort(array)[-top_k:].mean())
