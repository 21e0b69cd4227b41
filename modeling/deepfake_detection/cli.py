"""The `deepfake-detection` command: `predict` verdicts for images, videos and folders; `evaluate`
(`evaluate_command`) and `train` (`training.command`) are its other subcommands."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path
from typing import Sequence

from .arguments import add_model_arguments, add_video_arguments, positive_float, positive_int, probability, video_settings
from .errors import ModelNotAvailableError
from .images import DEFAULT_TIMEOUT_S, IMAGE_SUFFIXES, find_images, is_url
from .video import VIDEO_SUFFIXES, is_video

MEDIA_SUFFIXES = IMAGE_SUFFIXES + VIDEO_SUFFIXES


def predict(args: argparse.Namespace) -> int:
    """Print a verdict per image or video; every input that is not analysed, and every video whose `--save-dir`
    outputs could not be written, is named with its reason, never fatal (exit code 1)."""
    paths = find_images(args.inputs, MEDIA_SUFFIXES)
    errors = [
        {"path": str(folder), "error": f"{folder}: no image or video files in this folder ({', '.join(MEDIA_SUFFIXES)})."}
        for folder in args.inputs
        if not is_url(folder) and Path(folder).is_dir() and not find_images([folder], MEDIA_SUFFIXES)
    ]
    if not paths:
        for error in errors:
            print(f"error: {printable(error['error'])}", file=sys.stderr)
        print("error: nothing to analyse: give image or video files, folders that hold them, or URLs.", file=sys.stderr)
        return 2
    from .pipeline import load_pipeline

    detector = load_pipeline(args.model, args.revision, detection_max_side=args.detection_max_side)
    video_options = {**video_settings(args), "explain_frames": args.explain_frames if args.save_dir else 0}
    if args.save_dir:
        from .report import video_output_names

        output_names = video_output_names([path for path in paths if is_video(path)])
    rows, unsaved = [], []
    for start in range(0, len(paths), args.batch_size):
        batch = paths[start : start + args.batch_size]
        results = detector([str(path) for path in batch], threshold=args.threshold, timeout=args.timeout,
                           video_options=video_options, batch_size=args.batch_size)
        for path, result in zip(batch, results):
            if result.error is not None:
                errors.append({"path": str(path), "error": result.error})
                continue
            if args.save_dir and "tracks" in result:
                error = save_video_outputs(result, detector.model.config, args, output_names[str(path)])
                if error:
                    unsaved.append(f"{path}: {error}")
            row = {"path": str(path), **result.to_dict()}
            rows.append(row)
            if not args.json:
                print(format_video(row) if "tracks" in row else format_result(row))
    if args.json:
        print(json.dumps(rows + errors, indent=2))
    for error in errors:
        print(f"error: {printable(error['error'])}", file=sys.stderr)
    if errors:
        print(f"{len(errors)} input(s) could not be analysed; {len(rows)} of {len(paths)} input(s) were.",
              file=sys.stderr)
    for error in unsaved:  # analysed and printed above, but the files asked for are missing
        print(f"error: {printable(error)}", file=sys.stderr)
    return 1 if errors or unsaved else 0


def save_video_outputs(result, config, args: argparse.Namespace, name: str) -> str | None:
    """Write one video's table, timeline and frames under `--save-dir`; the reason as text if that fails, so the
    run goes on (the verdict is still printed)."""
    from .report import write_video_outputs

    try:
        write_video_outputs(result, config, Path(args.save_dir), name, args.threshold)
    except OSError as error:
        return f"could not write its outputs under --save-dir {args.save_dir} ({error}); choose a writable folder."
    return None


def printable(text: str) -> str:
    """`text` with newlines and other control characters escaped (`\\n`, `\\x1b`...), so that a file name holding
    them cannot break the one-line-per-input output or drive the terminal; other characters are left as they are."""
    return "".join(char if char.isprintable() else char.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for char in text)


def format_result(row: dict) -> str:
    """A readable block for one image: its verdict, one line per judged face, then the faces too small to judge."""
    path, too_small = printable(row["path"]), row.get("too_small") or []
    small = [f"  {len(too_small)} face(s) too small to judge: "
             + "; ".join(f"[{', '.join(f'{v:.0f}' for v in face['box'])}] {face['width']:.0f} px wide"
                         for face in too_small)] if too_small else []
    if not row["faces"]:
        return "\n".join([f"{path}: no verdict: {row['message']}" if too_small else f"{path}: no face detected", *small])
    lines = [f"{path}: {row['label'].upper()} (fake probability {row['fake_probability']:.3f})"]
    for index, face in enumerate(row["faces"], 1):
        box = ", ".join(f"{v:.0f}" for v in face["box"])
        probabilities = face["probabilities"]
        lines.append(
            f"  face {index} [{box}]  real {probabilities['real']:.3f}  fake {probabilities['fake']:.3f}  "
            f"-> {face['label']}"
        )
    return "\n".join(lines + small)


def format_video(row: dict) -> str:
    """A readable block for one video: its verdict, the frames sampled, then one line per person (track)."""
    too_small = f" ({row['frames_too_small']} with faces too small to judge)" if row.get("frames_too_small") else ""
    sampled = f"{row['frames_sampled']} frames sampled, {row['frames_without_faces']} without a judged face{too_small}"
    path, notice = printable(row["path"]), [f"  note: {row['notice']}"] if row.get("notice") else []
    if not row["tracks"]:
        verdict = f"no verdict: {row['message']}" if too_small else "no face detected"
        return "\n".join([f"{path}: {verdict} ({sampled})", *notice])
    lines = [f"{path}: {row['label'].upper()} (fake probability {row['fake_probability']:.3f}, "
             f"{row['aggregation']} over time; {sampled})", *notice]
    for track in row["tracks"]:
        times = track["times_s"]
        lines.append(f"  person {track['track_id']}: {len(times)} frames ({times[0]:.1f}-{times[-1]:.1f} s)  "
                     f"fake {track['probabilities']['fake']:.3f}  -> {track['label']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The `deepfake-detection` command line: `predict`, `evaluate` and `train` (building it imports nothing heavy)."""
    parser = argparse.ArgumentParser(prog="deepfake-detection", description="Real or deepfake, face by face.")
    commands = parser.add_subparsers(dest="command", required=True)
    predict_parser = commands.add_parser("predict", help="Verdicts for images, videos and folders of them.")
    predict_parser.add_argument("inputs", nargs="+", metavar="IMAGE_VIDEO_OR_DIR",
                                help="Image or video files, folders, URLs of images.")
    add_model_arguments(predict_parser)
    predict_parser.add_argument("--threshold", type=probability, default=None, help="Override the config's threshold.")
    predict_parser.add_argument("--batch-size", type=positive_int, default=8, help="Images per batch (default 8).")
    predict_parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    predict_parser.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT_S,
                                help=f"Seconds a URL download may take (default {DEFAULT_TIMEOUT_S:g}).")
    add_video_arguments(predict_parser)
    predict_parser.set_defaults(run=predict)

    from .evaluate_command import add_evaluate_parser
    from .training.command import add_train_parser

    add_evaluate_parser(commands)
    add_train_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code; a model that cannot be loaded is explained, not a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ModelNotAvailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def console_main(argv: Sequence[str] | None = None) -> int:
    """The `deepfake-detection` command: `main`, then `gc.freeze()`, so the interpreter's final garbage collections skip
    torch's and transformers' objects (~1 s of every exit; outputs are closed by then, atexit handlers still run)."""
    code = main(argv)
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(console_main())
