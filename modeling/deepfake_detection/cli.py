"""The `deepfake-detection` command: `predict` verdicts for images and folders, `evaluate` a model on a dataset."""

from __future__ import annotations

import argparse
import gc
import json
import sys
import warnings
from pathlib import Path
from typing import Sequence

from huggingface_hub.errors import HfHubHTTPError

from .errors import EvaluationError, ModelNotAvailableError, PolarityWarning, first_line
from .hub import DATASET_ENV, MODEL_ENV, default_dataset_id
from .images import DEFAULT_TIMEOUT_S, IMAGE_SUFFIXES, find_images, is_url
from .tracking import AGGREGATIONS, DEFAULT_TOP_K
from .video import DEFAULT_NUM_FRAMES, VIDEO_SUFFIXES, is_video

MEDIA_SUFFIXES = IMAGE_SUFFIXES + VIDEO_SUFFIXES


def positive_int(text: str) -> int:
    """An argparse type for counts and sizes: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type for durations: a number above 0."""
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from error
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {value}")
    return value


def probability(text: str) -> float:
    """An argparse type for thresholds: a number strictly between 0 and 1 (the config's rule and message)."""
    from .configuration_deepfake_detector import DeepfakeDetectorConfig

    try:
        value = float(text)
    except ValueError:
        value = text
    try:
        DeepfakeDetectorConfig.check_threshold(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    return value


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The `--model` / `--revision` options shared by every command that loads the model."""
    parser.add_argument(
        "--model",
        default=None,
        help=f"Hub repo id or local model folder (default: ${MODEL_ENV}, else the model bundled with the package).",
    )
    parser.add_argument("--revision", default=None, help="Pin the model repo to a branch, tag or commit.")
    parser.add_argument(
        "--detection-max-side",
        type=positive_int,
        default=None,
        metavar="N",
        help="Faster face detection on large images: detect on a copy at most N pixels long (e.g. 640). "
        "Moves boxes, and so scores, slightly; by default detection runs at full resolution as in the original app.",
    )


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
            print(f"error: {error['error']}", file=sys.stderr)
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
        print(f"error: {error['error']}", file=sys.stderr)
    if errors:
        print(f"{len(errors)} input(s) could not be analysed; {len(rows)} of {len(paths)} input(s) were.",
              file=sys.stderr)
    for error in unsaved:  # analysed and printed above, but the files asked for are missing
        print(f"error: {error}", file=sys.stderr)
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


def video_settings(args: argparse.Namespace) -> dict:
    """The sampling and aggregation options for `analyse_video`, from the command line."""
    num_frames = DEFAULT_NUM_FRAMES if args.num_frames is None and args.fps is None else args.num_frames
    return {"num_frames": num_frames, "fps": args.fps, "aggregation": args.aggregation, "top_k": args.top_k}


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


def format_video(row: dict) -> str:
    """A readable block for one video: its verdict, the frames sampled, then one line per person (track)."""
    sampled = f"{row['frames_sampled']} frames sampled, {row['frames_without_faces']} without a face"
    if not row["tracks"]:
        return f"{row['path']}: no face detected ({sampled})"
    lines = [f"{row['path']}: {row['label'].upper()} (fake probability {row['fake_probability']:.3f}, "
             f"{row['aggregation']} over time; {sampled})"]
    for track in row["tracks"]:
        times = track["times_s"]
        lines.append(f"  person {track['track_id']}: {len(times)} frames ({times[0]:.1f}-{times[-1]:.1f} s)  "
                     f"fake {track['probabilities']['fake']:.3f}  -> {track['label']}")
    return "\n".join(lines)


def evaluate(args: argparse.Namespace) -> int:
    """Evaluate on one dataset split, print the metrics and where the results went (see `evaluation.evaluate`)."""
    from . import evaluation

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PolarityWarning)  # printed below, with the other warnings
            result = evaluation.evaluate(
                args.model,
                args.dataset,
                revision=args.revision,
                split=args.split,
                dataset_revision=args.dataset_revision,
                image_column=args.image_column,
                label_column=args.label_column,
                faces=args.faces,
                batch_size=args.batch_size,
                limit=args.limit,
                output_dir=args.output_dir,
                push_to_hub=args.push_to_hub,
                detection_max_side=args.detection_max_side,
                video_options=video_settings(args),
            )
    except EvaluationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (HfHubHTTPError, OSError) as error:  # the known causes are EvaluationErrors that say what to do
        print(f"error: the evaluation stopped: {first_line(error)}. Check --model, --dataset and --output-dir, and the "
              "network and your token (HF_TOKEN) for Hub ids.", file=sys.stderr)
        return 2
    if not result.files:  # another process of an `accelerate launch` run: the main one reports
        return 0
    from .report import format_metrics

    print(format_metrics(result.metrics))
    print("Wrote " + ", ".join(str(path) for path in result.files.values()))
    if result.commit_url:
        print(f"Pushed: {result.commit_url}")
    return 0


def add_column_arguments(parser: argparse.ArgumentParser) -> None:
    """The dataset columns that hold the images and the labels (`evaluate` and `train`)."""
    parser.add_argument("--image-column", default="image", help="Column holding the images (default image).")
    parser.add_argument("--label-column", default="label", help="Column holding the labels (default label).")


def add_video_arguments(parser: argparse.ArgumentParser, outputs: bool = True) -> None:
    """How videos are sampled and their scores over time combined, and (`outputs`) where their tables and plots go."""
    video = parser.add_argument_group("videos")
    sampling = video.add_mutually_exclusive_group()
    sampling.add_argument("--num-frames", type=positive_int, default=None,  # None, so that any value excludes --fps
                          help=f"Frames sampled per video, evenly spaced (default {DEFAULT_NUM_FRAMES}).")
    sampling.add_argument("--fps", type=positive_float, default=None, help="Sample this many frames a second instead.")
    video.add_argument("--aggregation", choices=AGGREGATIONS, default="mean",
                       help="A person's fake probability over time: mean (default), median, max, or topk mean.")
    video.add_argument("--top-k", type=positive_int, default=DEFAULT_TOP_K,
                       help=f"Frames averaged by --aggregation topk (default {DEFAULT_TOP_K}).")
    if not outputs:
        return
    video.add_argument("--save-dir", default=None, metavar="DIR",
                       help="Write each video's NAME.frames.csv (every face in every sampled frame), "
                       "NAME.timeline.png and its most suspicious frames with Grad-CAM (NAME.frameN.png); NAME is "
                       "the file name without suffix, or real__000.mp4 for real/000.mp4 when two videos share one.")
    video.add_argument("--explain-frames", type=positive_int, default=3,
                       help="Most suspicious frames saved with Grad-CAM per video (default 3; with --save-dir).")


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

    evaluate_parser = commands.add_parser(
        "evaluate", help="Metrics, plots and model-index for a model on a labelled dataset split."
    )
    add_model_arguments(evaluate_parser)
    evaluate_parser.add_argument(
        "--dataset",
        default=None,
        help=f"Hub dataset id or local folder (default: ${DATASET_ENV}, else {default_dataset_id()}).",
    )
    evaluate_parser.add_argument("--dataset-revision", default=None, help="Pin the dataset repo to a revision.")
    evaluate_parser.add_argument("--split", default=None, help="Split to evaluate (default: test, else validation).")
    add_column_arguments(evaluate_parser)
    evaluate_parser.add_argument(
        "--faces",
        choices=["detect", "crops"],
        default="detect",
        help="detect: find the faces in each image (score of the most suspicious one); crops: images are face crops.",
    )
    evaluate_parser.add_argument("--batch-size", type=positive_int, default=16, help="Images per batch (default 16).")
    evaluate_parser.add_argument("--limit", type=int, default=None, help="Evaluate a random sample of N rows (seed 0).")
    evaluate_parser.add_argument("--output-dir", default="evaluation", help="Where to write the results.")
    evaluate_parser.add_argument(
        "--push-to-hub",
        nargs="?",
        const=True,
        default=False,
        metavar="REPO_ID",
        help="Upload the results under eval/ of the model repo (or of REPO_ID) and into its card's model-index.",
    )
    add_video_arguments(evaluate_parser, outputs=False)
    evaluate_parser.set_defaults(run=evaluate)
    from .training.command import add_train_parser

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
