"""How the detector's accuracy falls as faces get smaller: the measurement behind `min_judged_face` (issue 21).

Each image's widest face is found at full size (on DFDC's tight crops, where the face fills the image and MTCNN's
box overflows it, after padding the image onto a grey canvas twice its width, where the box fits the face). The image
is then resized so that this face is W px wide, pasted on a grey canvas at least `CANVAS_FACES` face widths and
`CANVAS_MIN` px a side (so MTCNN still sees context around a tiny face), and run through the real pipeline with every
face judged and MTCNN looking down to `STUDY_MIN_FACE_SIZE` px. The face scored is the one found where the resized
face is (box IoU >= `MATCH_IOU`), not the image's most suspicious face, so what is measured is that face at that size.

Per width: ROC-AUC, the share of real faces called fake at the shipped threshold, and faces found (those not found
are left out of the other two). The "full" row is each face at its own width, through the same steps: the reference.
"as given" is the images themselves, the widest face scored, as evaluation sees them. The suggested `min_judged_face`
is the smallest width from which every larger width keeps ROC-AUC within `AUC_TOLERANCE` of full size.

    python scripts/face_size_study.py --limit 200 --output runs/face-size/study.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Sequence

from PIL import Image

from deepfake_detection import FaceDetector, load_image, load_pipeline
from deepfake_detection.dataset import sample_indices
from deepfake_detection.metrics import Prediction, compute_metrics
from deepfake_detection.tracking import box_iou

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_WIDTHS = (16, 24, 32, 48, 64, 96, 128)
STUDY_MIN_FACE_SIZE = 10
"""MTCNN's smallest face in the study, under the smallest width, so detection itself is measured at every width."""
CANVAS_FACES = 2
CANVAS_MIN = 64
CANVAS_FILL = (128, 128, 128)
MATCH_IOU = 0.5
AUC_TOLERANCE = 0.02
AS_GIVEN = "as given"
"""The images themselves, no canvas: what evaluation sees."""
FULL = "full"
"""The face at its own width on the canvas: the reference every width is compared with (same canvas, same crop)."""


def find_samples(dfdc: Path | None, ffpp: Path | None, limit: int | None) -> list[tuple[str, str]]:
    """`(path, label)` pairs: DFDC's `{real,fake}/*.jpg` and ffpp's `real_*`/`fake_*` files, a seeded sample of `limit`."""
    samples = []
    if dfdc is not None:
        samples += [(str(path), label) for label in ("real", "fake") for path in sorted((dfdc / label).glob("*.jpg"))]
    if ffpp is not None:
        samples += [(str(path), path.name.split("_", 1)[0]) for path in sorted(ffpp.iterdir())
                    if path.name.split("_", 1)[0] in ("real", "fake")]
    return [samples[index] for index in sample_indices(len(samples), limit)]


def study_detector(model, device=None):
    """The real pipeline for `model`, judging every face and looking for faces down to `STUDY_MIN_FACE_SIZE` px."""
    detector = load_pipeline(model, **({"device": device} if device is not None else {}))
    detector.face_detector = FaceDetector.from_config(detector.model.config, min_judged_face=None,
                                                      min_face_size=STUDY_MIN_FACE_SIZE, device=detector.device)
    return detector


def shrink_to_width(image: Image.Image, box: Sequence[float], width: int) -> tuple[Image.Image, list[float]]:
    """`image` resized so that the face in `box` is `width` px wide, centred on a grey canvas at least
    `CANVAS_FACES` face widths and `CANVAS_MIN` px a side, and where that face's box now is."""
    scale = width / (box[2] - box[0])
    resized = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BILINEAR)
    least = max(math.ceil(CANVAS_FACES * width), CANVAS_MIN)
    side_x, side_y = max(resized.width, least), max(resized.height, least)
    canvas = Image.new("RGB", (side_x, side_y), CANVAS_FILL)
    left, top = (side_x - resized.width) // 2, (side_y - resized.height) // 2
    canvas.paste(resized, (left, top))
    return canvas, [box[0] * scale + left, box[1] * scale + top, box[2] * scale + left, box[3] * scale + top]


def score_row(index: int, path: str, label: str, result, box: Sequence[float] | None = None) -> Prediction:
    """The study's record of one image at one width: the score of the face found where `box` is (of the widest face
    without a box), or status `no_face`."""
    row = Prediction(index=index, path=path, label=label, num_faces=len(result.faces))
    matches = [face for face in result.faces if box is None or box_iou(face.box, box) >= MATCH_IOU]
    if not matches:
        row.status = "no_face"
        return row
    face = max(matches, key=lambda face: face.box[2] - face.box[0] if box is None else box_iou(face.box, box))
    row.fake_score, row.score, row.predicted_label = face.probabilities["fake"], face.score, face.label
    return row


def width_metrics(rows: list[Prediction], config) -> dict:
    """ROC-AUC, real faces called fake at the shipped threshold, and faces found, from one width's rows."""
    metrics = compute_metrics(rows, config)
    found = metrics["n_scored"]
    return {"n": len(rows), "faces_found": found, "faces_found_share": round(found / len(rows), 4) if rows else None,
            "roc_auc": _round(metrics.get("roc_auc")), "real_called_fake": _round(metrics.get("real_called_fake")),
            "fakes_caught": _round(metrics.get("fakes_caught"))}


def _round(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 4)


def width_rows(detector, samples, kept: list, width, batch_size: int) -> list[Prediction]:
    """One row per kept `(index, image, box)`: its face brought to `width` (its own width for `FULL`) and scored."""
    shrunk = [shrink_to_width(image, box, box[2] - box[0] if width == FULL else width) for _, image, box in kept]
    results = detector([image for image, _ in shrunk], batch_size=batch_size)
    return [score_row(index, *samples[index], result, box)
            for (index, _, _), (_, box), result in zip(kept, shrunk, results)]


def reference_faces(detector, images: list[Image.Image], given: list, batch_size: int) -> list[tuple]:
    """`(index, image, box)` of each image's widest face, the image padded onto a canvas twice its size first where
    that face's box overflows it: on DFDC's tight crops, where the face fills the image, MTCNN's box is much wider
    than the face, and it fits once there is context around it. Images without a face are left out."""
    kept, overflowing = [], []
    for index, (image, result) in enumerate(zip(images, given)):
        face = max(result.faces, key=lambda face: face.box[2] - face.box[0], default=None)
        if face is not None and 0 <= face.box[0] and 0 <= face.box[1] and face.box[2] <= image.width \
                and face.box[3] <= image.height:
            kept.append((index, image, face.box))
        else:
            overflowing.append(index)
    padded = [shrink_to_width(images[i], (0, 0, images[i].width, images[i].height), images[i].width)[0]
              for i in overflowing]
    for index, image, result in zip(overflowing, padded, detector(padded, batch_size=batch_size)):
        if result.faces:
            kept.append((index, image, max(result.faces, key=lambda face: face.box[2] - face.box[0]).box))
    return sorted(kept, key=lambda item: item[0])


def run_study(detector, samples: Sequence[tuple[str, str]], widths: Sequence[int], batch_size: int = 16) -> dict:
    """The study's table: the images as given, then per width (full size first) the metrics of their faces at it."""
    images = [load_image(path) for path, _ in samples]
    given = detector(images, batch_size=batch_size)
    kept = reference_faces(detector, images, given, batch_size)
    config = detector.model.config
    table = [{"width": AS_GIVEN, **width_metrics([score_row(index, *sample, result) for index, (sample, result)
                                                  in enumerate(zip(samples, given))], config)}]
    for width in [FULL, *sorted(widths, reverse=True)]:
        table.append({"width": width, **width_metrics(width_rows(detector, samples, kept, width, batch_size), config)})
    return {"n_images": len(samples), "n_without_face_at_full_size": len(samples) - len(kept),
            "full_size_face_width": _spread([box[2] - box[0] for _, _, box in kept]),
            "threshold": config.threshold, "min_face_size": STUDY_MIN_FACE_SIZE, "auc_tolerance": AUC_TOLERANCE,
            "table": table, "suggested_min_judged_face": suggest_min_judged_face(table)}


def _spread(values: list[float]) -> dict | None:
    """Median and range of the full-size face widths (how much each width shrinks or enlarges a face)."""
    if not values:
        return None
    ordered = sorted(values)
    return {"min": round(ordered[0], 1), "median": round(ordered[len(ordered) // 2], 1), "max": round(ordered[-1], 1)}


def suggest_min_judged_face(table: list[dict], tolerance: float = AUC_TOLERANCE) -> int | None:
    """The smallest width from which every larger width keeps ROC-AUC within `tolerance` of full size."""
    full = next((row["roc_auc"] for row in table if row["width"] == FULL), None)
    if full is None:
        return None
    suggested = None
    for row in sorted((row for row in table if isinstance(row["width"], int)), key=lambda row: -row["width"]):
        if row["roc_auc"] is None or row["roc_auc"] < full - tolerance:
            break
        suggested = row["width"]
    return suggested


def plot(study: dict, path: Path) -> None:
    """ROC-AUC, real faces called fake and faces found against face width, as a PNG (matplotlib's Agg backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [row for row in study["table"] if isinstance(row["width"], int)]
    widths = [row["width"] for row in rows]
    figure = Figure(figsize=(7, 4.2))
    axes = figure.add_subplot()
    for key, name in (("roc_auc", "ROC-AUC"), ("real_called_fake", "real faces called fake"),
                      ("faces_found_share", "faces found")):
        axes.plot(widths, [row[key] if row[key] is not None else math.nan for row in rows], marker="o", label=name)
    full = next(row for row in study["table"] if row["width"] == FULL)
    if full["roc_auc"] is not None:
        axes.axhline(full["roc_auc"], color="grey", linestyle="--", linewidth=1, label="ROC-AUC at full size")
    if study["suggested_min_judged_face"]:
        axes.axvline(study["suggested_min_judged_face"], color="black", linewidth=1, label="suggested min_judged_face")
    axes.set(xscale="log", xlabel="face width (px)", ylim=(0, 1.02), xticks=widths, xticklabels=[str(w) for w in widths],
             title=f"Accuracy against face size ({study['n_images']} images)")
    axes.set_xticks([], minor=True)  # the log scale's minor labels (2x10^1...) would cover the widths
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    FigureCanvasAgg(figure).print_png(str(path))


def format_table(study: dict) -> str:
    """The table as Markdown, for the docs."""
    lines = ["| face width (px) | ROC-AUC | real called fake | faces found |", "|---|---|---|---|"]
    for row in study["table"]:
        lines.append(f"| {row['width']} | {_text(row['roc_auc'])} | {_text(row['real_called_fake'])} | "
                     f"{row['faces_found']}/{row['n']} |")
    return "\n".join(lines)


def _text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the study and write its JSON and figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--model", default=None, help="Hub id or local folder (default: the package's default model).")
    parser.add_argument("--dfdc", type=Path, default=DATA / "dfdc-faces" / "validation",
                        help="Folder with real/ and fake/ face crops (default: the DFDC validation crops).")
    parser.add_argument("--ffpp", type=Path, default=None, help="Also use these real_*/fake_* frames (e.g. ffpp).")
    parser.add_argument("--no-dfdc", action="store_true", help="Leave the DFDC crops out (with --ffpp).")
    parser.add_argument("--limit", type=int, default=None, help="A seeded random sample of this many images.")
    parser.add_argument("--widths", type=lambda text: [int(v) for v in text.split(",")], default=list(DEFAULT_WIDTHS),
                        help="Comma-separated face widths in px (default: 16,24,32,48,64,96,128).")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--output", type=Path, default=Path("face_size_study.json"),
                        help="The JSON to write; the figure goes beside it as .png.")
    args = parser.parse_args(argv)
    samples = find_samples(None if args.no_dfdc else args.dfdc, args.ffpp, args.limit)
    if not samples:
        parser.error("no images found: check --dfdc / --ffpp (folders with real/ and fake/ or real_*/fake_* files).")
    study = run_study(study_detector(args.model), samples, args.widths, args.batch_size)
    study["model"], study["limit"] = str(args.model or "default"), args.limit
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(study, indent=2))
    plot(study, args.output.with_suffix(".png"))
    print(format_table(study))
    print(f"suggested min_judged_face: {study['suggested_min_judged_face']}; written: {args.output} (+ .png)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
