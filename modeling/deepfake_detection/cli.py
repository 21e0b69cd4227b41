"""The `deepfake-detection` command: `predict` verdicts for images and folders (and `evaluate`, see evaluation.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from .faces import ImageLoadError, find_images, load_image
from .hub import MODEL_ENV, ModelNotAvailableError, default_model_id, load_pipeline
from .pipeline import to_json


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The `--model` / `--revision` options shared by every command that loads the model."""
    parser.add_argument(
        "--model",
        default=None,
        help=f"Hub repo id or local model folder (default: ${MODEL_ENV}, else {default_model_id()}).",
    )
    parser.add_argument("--revision", default=None, help="Pin the model repo to a branch, tag or commit.")


def predict(args: argparse.Namespace) -> int:
    """Print a verdict per face per image; unreadable files are reported and skipped, never fatal."""
    detector = load_pipeline(args.model, args.revision)
    paths = find_images(args.inputs)
    rows, errors = [], []
    for start in range(0, len(paths), args.batch_size):
        batch, images = [], []
        for path in paths[start : start + args.batch_size]:
            try:
                images.append(load_image(path))
                batch.append(path)
            except ImageLoadError as error:
                errors.append({"path": str(path), "error": str(error)})
        for path, result in zip(batch, detector(images, threshold=args.threshold) if images else []):
            row = {"path": str(path), **to_json(result)}
            rows.append(row)
            if not args.json:
                print(format_result(row))
    if args.json:
        print(json.dumps(rows + errors, indent=2))
    for error in errors:
        print(f"error: {error['error']}", file=sys.stderr)
    if errors:
        print(f"{len(errors)} of {len(paths)} file(s) could not be read.", file=sys.stderr)
    return 1 if errors else 0


def format_result(row: dict) -> str:
    """A readable block for one image: its verdict, then one line per face."""
    if not row["faces"]:
        return f"{row['path']}: no face detected"
    lines = [f"{row['path']}: {row['label'].upper()} (fake probability {row['fake_probability']:.3f})"]
    for index, face in enumerate(row["faces"], 1):
        box = ", ".join(f"{v:.0f}" for v in face["box"])
        probabilities = face["probabilities"]
        lines.append(
            f"  face {index} [{box}]  real {probabilities['real']:.3f}  fake {probabilities['fake']:.3f}  "
            f"-> {face['label']}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepfake-detection", description="Real or deepfake, face by face.")
    commands = parser.add_subparsers(dest="command", required=True)
    predict_parser = commands.add_parser("predict", help="Verdicts for images and folders of images.")
    predict_parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="Image files or folders.")
    add_model_arguments(predict_parser)
    predict_parser.add_argument("--threshold", type=float, default=None, help="Override the config's threshold.")
    predict_parser.add_argument("--batch-size", type=int, default=8, help="Images per batch (default 8).")
    predict_parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    predict_parser.set_defaults(run=predict)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ModelNotAvailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
