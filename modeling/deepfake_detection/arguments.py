"""The command line's shared argument types and option groups: one home for each option's rule and help text."""

from __future__ import annotations

import argparse

from .hub import MODEL_ENV
from .tracking import AGGREGATIONS, DEFAULT_TOP_K
from .video import DEFAULT_NUM_FRAMES


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


def video_settings(args: argparse.Namespace) -> dict:
    """The sampling and aggregation options for `analyse_video`, from the command line."""
    num_frames = DEFAULT_NUM_FRAMES if args.num_frames is None and args.fps is None else args.num_frames
    return {"num_frames": num_frames, "fps": args.fps, "aggregation": args.aggregation, "top_k": args.top_k}


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
