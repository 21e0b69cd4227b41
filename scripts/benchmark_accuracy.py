"""The accuracy side of speed: does a faster detection setting find the same faces and keep the same ROC-AUC?

A score-changing speed-up (the package's channels-last default, a bounded detection size `detection_max_side`) may
be a default only where, with the trained model and in the same run, it
- finds every face that the original arithmetic (full resolution, parity mode) finds on the full-HD frames (box
  IoU >= MIN_IOU), and
- keeps ROC-AUC through detection within AUC_TOLERANCE of the original arithmetic's, on the ffpp-examples frames and
  on the DFDC validation crops.
`benchmark.py` runs `accuracy_job` and prints its table; nothing here times anything.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Sequence

from PIL import Image

from deepfake_detection import FaceDetector, load_image, load_pipeline
from deepfake_detection.evaluation import evaluate
from deepfake_detection.images import find_images
from deepfake_detection.tracking import box_iou

MIN_IOU = 0.5
AUC_TOLERANCE = 0.005
DEFAULT_MAX_SIDES = (640, 960, 1280)
Log = Callable[[str], None]


def face_recall(frames: Sequence[str], reference_faces: Sequence[list], candidate: FaceDetector) -> dict:
    """How many of the reference's faces (`reference_faces[i]` for `frames[i]`, detected once for all candidates) the
    candidate also finds (best box IoU >= MIN_IOU), and which it misses."""
    found, missed, best_ious = 0, [], []
    for frame, faces in zip(frames, reference_faces):
        candidate_boxes = [face.box for face in candidate.detect(load_image(frame))]
        for face in faces:
            iou = max((box_iou(face.box, box) for box in candidate_boxes), default=0.0)
            best_ious.append(iou)
            if iou >= MIN_IOU:
                found += 1
            else:
                missed.append({"image": Path(frame).name, "box_width": round(face.box[2] - face.box[0], 1),
                               "confidence": round(face.confidence, 3)})
    matched = [iou for iou in best_ious if iou >= MIN_IOU]
    return {
        "reference_faces": len(best_ious),
        "found": found,
        "missed": missed,
        "min_matched_iou": min(matched, default=None),
    }


def auc_through_detection(model, dataset: str, split: str | None, max_side: int | None) -> float | None:
    """ROC-AUC of `model` (an id or folder, or a loaded pipeline) on one split, faces found as the pipeline finds
    them, with this detection size (None when too few faces are found to compute it)."""
    options = {} if max_side is None else {"detection_max_side": max_side}
    with tempfile.TemporaryDirectory(prefix="benchmark_accuracy_") as folder:
        result = evaluate(model, dataset, split=split, output_dir=folder, progress=False, **options)
    return result.metrics.get("roc_auc")


def largest_side(folder: str) -> int:
    """The largest image side in a folder (read from headers), so a detection size at or above it is known to change
    nothing there."""
    sides = []
    for path in find_images([folder]):
        with Image.open(path) as image:
            sides.append(max(image.size))
    return max(sides, default=0)


def accuracy_job(model: str, frames: Sequence[str], datasets: dict[str, tuple[str, str | None]],
                 max_sides: Sequence[int] = DEFAULT_MAX_SIDES, log: Log = print) -> dict:
    """The original arithmetic (parity mode, full resolution) against the package's default (channels-last, full
    resolution; `detection_max_side` None) and each bounded detection size: face recall on `frames`, and ROC-AUC on
    each of `datasets` (`{name: (folder, split)}`). A dataset whose images are all no larger than a candidate size is
    not re-evaluated for it: detection leaves such images untouched, so its AUC is the default's."""
    original, default = load_pipeline(model, parity=True), load_pipeline(model)
    for pipeline in (original, default):
        pipeline.face_detector.max_side = None  # full resolution, whatever the model's config says
    config = original.model.config
    log("Accuracy job: the original arithmetic (reference)")
    reference_faces = [original.face_detector.detect(load_image(frame)) for frame in frames]
    reference = {name: auc_through_detection(original, folder, split, None)
                 for name, (folder, split) in datasets.items()}
    sides = {name: largest_side(folder) for name, (folder, _) in datasets.items()}
    candidates, default_aucs = [], {}
    for max_side in [None, *max_sides]:
        log(f"Accuracy job: detection_max_side={max_side}" + (" (the default)" if max_side is None else ""))
        detector = default.face_detector if max_side is None else FaceDetector.from_config(config, max_side=max_side)
        recall = face_recall(frames, reference_faces, detector)
        untouched = [name for name in datasets if max_side is not None and sides[name] <= max_side]
        evaluated = default if max_side is None else model
        aucs = {name: default_aucs[name] if name in untouched
                else auc_through_detection(evaluated, folder, split, max_side)
                for name, (folder, split) in datasets.items()}
        default_aucs = default_aucs or aucs
        changes = {name: None if aucs[name] is None or reference[name] is None else aucs[name] - reference[name]
                   for name in datasets}
        candidates.append({
            "detection_max_side": max_side,
            "face_recall": recall,
            "roc_auc": aucs,
            "roc_auc_change": changes,
            "unchanged_by_construction": untouched,
            "keeps_accuracy": not recall["missed"] and all(
                change is not None and abs(change) <= AUC_TOLERANCE for change in changes.values()),
        })
    return {"model": model, "min_iou": MIN_IOU, "auc_tolerance": AUC_TOLERANCE, "reference_roc_auc": reference,
            "candidates": candidates}


def accuracy_rows(accuracy: dict) -> list[list[str]]:
    """One markdown row per candidate: faces found, missed face widths, AUC changes, and whether it qualifies."""
    rows = []
    for candidate in accuracy["candidates"]:
        recall = candidate["face_recall"]
        missed = ", ".join(f"{face['box_width']:.0f} px" for face in recall["missed"]) or "none"
        changes = "; ".join(f"{name} {'n/a (no AUC)' if change is None else f'{change:+.4f}'}"
                            for name, change in candidate["roc_auc_change"].items())
        size = candidate["detection_max_side"]
        rows.append(["full (default, channels-last)" if size is None else str(size),
                     f"{recall['found']}/{recall['reference_faces']}",
                     missed, changes, "yes" if candidate["keeps_accuracy"] else "no"])
    return rows


ACCURACY_HEADERS = ["detection_max_side", "faces found", "missed (box width)", "ROC-AUC change", "keeps accuracy"]
