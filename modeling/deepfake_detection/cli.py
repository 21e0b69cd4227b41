"""The `deepfake-detection` command: `predict` verdicts for images and folders, `evaluate` a model on a dataset."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Sequence

from huggingface_hub.errors import HfHubHTTPError

from .hub import (
    DATASET_ENV,
    MODEL_ENV,
    ModelNotAvailableError,
    default_dataset_id,
    default_model_id,
    hub_failure,
    load_pipeline,
)
from .images import DEFAULT_TIMEOUT_S, IMAGE_SUFFIXES, find_images, is_url
from .pipeline import to_json


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
    """Print a verdict per face per image; every input that is not analysed is named with its reason, never fatal."""
    paths = find_images(args.inputs)
    errors = [
        {"path": str(folder), "error": f"{folder}: no image files in this folder ({', '.join(IMAGE_SUFFIXES)})."}
        for folder in args.inputs
        if not is_url(folder) and Path(folder).is_dir() and not find_images([folder])
    ]
    if not paths:
        for error in errors:
            print(f"error: {error['error']}", file=sys.stderr)
        print("error: nothing to analyse: give image files, folders that hold images, or URLs.", file=sys.stderr)
        return 2
    detector = load_pipeline(args.model, args.revision, detection_max_side=args.detection_max_side)
    rows = []
    for start in range(0, len(paths), args.batch_size):
        batch = paths[start : start + args.batch_size]
        for path, result in zip(batch, detector([str(path) for path in batch], threshold=args.threshold,
                                                timeout=args.timeout)):
            if "error" in result:
                errors.append({"path": str(path), "error": result["error"]})
                continue
            row = {"path": str(path), **to_json(result)}
            rows.append(row)
            if not args.json:
                print(format_result(row))
    if args.json:
        print(json.dumps(rows + errors, indent=2))
    for error in errors:
        print(f"error: {error['error']}", file=sys.stderr)
    if errors:
        print(f"{len(errors)} input(s) could not be analysed; {len(rows)} of {len(paths)} image(s) were.",
              file=sys.stderr)
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


def evaluate(args: argparse.Namespace) -> int:
    """Evaluate on one dataset split, print the metrics and where the results went (see `evaluation.evaluate`)."""
    from . import evaluation

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", evaluation.PolarityWarning)  # printed below, with the other warnings
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
            )
    except evaluation.EvaluationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (HfHubHTTPError, OSError) as error:
        print(f"error: {hub_failure('read or write', args.push_to_hub or args.model or args.dataset, error)}",
              file=sys.stderr)
        return 2
    print(format_metrics(result.metrics))
    print("Wrote " + ", ".join(str(path) for path in result.files.values()))
    if result.commit_url:
        print(f"Pushed: {result.commit_url}")
    return 0


def format_metrics(metrics: dict) -> str:
    """A readable summary of `metrics.json`."""

    def number(key: str) -> str:
        return "n/a" if metrics.get(key) is None else f"{metrics[key]:.3f}"

    model, dataset = metrics["model"], metrics["dataset"]
    lines = [
        f"Model:   {model['id']}" + (f" @ {model['revision']}" if model.get("revision") else ""),
        f"Dataset: {dataset['id']}" + (f" @ {dataset['revision']}" if dataset.get("revision") else "")
        + f", split {dataset['split']}, faces: {metrics['faces']}",
        f"Images:  {metrics['n']} ({metrics['n_scored']} scored; {metrics['n_no_face']} without a face, "
        f"{metrics['n_unreadable']} unreadable, {metrics['n_unlabelled']} unlabelled: excluded, see predictions.csv)",
        f"At threshold {metrics['threshold']} on P({metrics['score_label']}), fake = positive: "
        f"accuracy {number('accuracy')}  precision {number('precision')}  recall {number('recall')}  F1 {number('f1')}",
        f"From scores: ROC-AUC {number('roc_auc')}  average precision {number('average_precision')}  "
        f"EER {number('eer')} (threshold {number('eer_threshold')})",
        f"Best balanced accuracy {number('best_balanced_accuracy')} at threshold "
        f"{number('best_balanced_accuracy_threshold')} (reported, not applied)",
    ]
    lines += [f"warning: {message}" for message in metrics["warnings"]]
    return "\n".join(lines)


def train(args: argparse.Namespace) -> int:
    """Train a detector (see `training.train_on_dataset`) and print where the best model and its metrics are."""
    from .evaluation import EvaluationError
    from .training import TrainingRecipe, train_on_dataset

    try:
        recipe = TrainingRecipe(
            image_size=args.image_size, batch_size=args.batch_size, learning_rate=args.learning_rate,
            weight_decay=args.weight_decay, max_steps=args.max_steps, eval_every=args.eval_every,
            paired=not args.no_pairs, self_blend_fraction=args.self_blend, augment=not args.no_augment,
            seed=args.seed, precision=args.precision,
        )
        best = train_on_dataset(
            args.dataset, args.output_dir, recipe, train_split=args.train_split, eval_split=args.eval_split,
            faces=args.faces, pairs_csv=args.pairs_csv, limit=args.limit, init_model=args.init_model,
            resume=args.resume, cache_dir=args.cache_dir, num_proc=args.num_proc,
        )
    except (EvaluationError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if best:
        auc = best["metrics"].get("eval_roc_auc")
        print(f"Best model: {args.output_dir}/best-model (step {best['step']}, validation ROC-AUC {auc:.4f})")
    return 0


def add_train_parser(commands) -> None:
    from .training.trainer import TrainingRecipe  # a dataclass: cheap, and the one place the defaults live

    parser = commands.add_parser("train", help="Train a detector on a labelled dataset of real and fake faces.")
    parser.add_argument("--dataset", required=True, help="Hub dataset id or local folder (as for evaluate).")
    parser.add_argument("--output-dir", required=True, help="Checkpoints, metrics.jsonl, best.json and best-model/.")
    parser.add_argument("--train-split", default="train")
    parser.add_argument("--eval-split", default="validation", help="Split for ROC-AUC during training.")
    parser.add_argument("--faces", choices=["detect", "crops"], default="detect",
                        help="detect: crop each image's face as inference does (cached); crops: images are crops.")
    parser.add_argument("--pairs-csv", default=None,
                        help="CSV with file and source_video columns pairing fakes with their reals "
                        "(default: the dataset's source_video column, or metadata.csv in a local folder).")
    recipe = TrainingRecipe()
    parser.add_argument("--image-size", type=positive_int, default=recipe.image_size, help="Classifier input side.")
    parser.add_argument("--batch-size", type=positive_int, default=recipe.batch_size)
    parser.add_argument("--learning-rate", type=float, default=recipe.learning_rate)
    parser.add_argument("--weight-decay", type=float, default=recipe.weight_decay)
    parser.add_argument("--max-steps", type=positive_int, default=recipe.max_steps, help="Length of the cosine schedule.")
    parser.add_argument("--eval-every", type=positive_int, default=recipe.eval_every,
                        help="Validate and checkpoint every N steps.")
    parser.add_argument("--self-blend", type=float, default=recipe.self_blend_fraction,
                        help="Fraction of reals also shown self-blended, as extra fakes, per epoch (0 disables).")
    parser.add_argument("--no-pairs", action="store_true", help="Plain shuffled batches instead of real/fake pairs.")
    parser.add_argument("--no-augment", action="store_true", help="Turn off flip, colour, JPEG, rescale, cutout.")
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], default=recipe.precision,
                        help="auto: bf16 autocast where the hardware runs it natively, else fp32.")
    parser.add_argument("--seed", type=int, default=recipe.seed)
    parser.add_argument("--limit", type=positive_int, default=None, help="Use a random sample of N rows per split.")
    parser.add_argument("--init-model", default=None, help="Warm-start from this model folder (new schedule).")
    parser.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                        help="Continue from the newest checkpoint in --output-dir (or from CHECKPOINT).")
    parser.add_argument("--cache-dir", default=None, help="Where face crops are cached (default ~/.cache/...).")
    parser.add_argument("--num-proc", type=positive_int, default=None, help="Processes for face cropping.")
    parser.set_defaults(run=train)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepfake-detection", description="Real or deepfake, face by face.")
    commands = parser.add_subparsers(dest="command", required=True)
    predict_parser = commands.add_parser("predict", help="Verdicts for images and folders of images.")
    predict_parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="Image files or folders.")
    add_model_arguments(predict_parser)
    predict_parser.add_argument("--threshold", type=probability, default=None, help="Override the config's threshold.")
    predict_parser.add_argument("--batch-size", type=positive_int, default=8, help="Images per batch (default 8).")
    predict_parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    predict_parser.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT_S,
                                help=f"Seconds a URL download may take (default {DEFAULT_TIMEOUT_S:g}).")
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
    evaluate_parser.add_argument("--image-column", default="image", help="Column holding the images (default image).")
    evaluate_parser.add_argument("--label-column", default="label", help="Column holding the labels (default label).")
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
    evaluate_parser.set_defaults(run=evaluate)
    add_train_parser(commands)
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
