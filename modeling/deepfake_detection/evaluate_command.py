"""The `evaluate` command: one dataset, several (`--dataset` repeated), a suite file or a mixture's validation
parts, clean or degraded; metrics, plots, a suite table and model-index (see `evaluation` and `suite`)."""

from __future__ import annotations

import argparse
import sys
import warnings

from huggingface_hub.errors import HfHubHTTPError

from .arguments import add_column_arguments, add_model_arguments, add_video_arguments, positive_int, video_settings
from .degradations import EXAMPLE_DEGRADATIONS, check_degradation
from .errors import EvaluationError, PolarityWarning, first_line
from .hub import DATASET_ENV, default_dataset_id


def evaluate(args: argparse.Namespace) -> int:
    """Evaluate on one dataset split, or on a suite of them, print the metrics and where the results went."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PolarityWarning)  # printed below, with the other warnings
            entries = suite_entries(args)
            if entries is None:
                return evaluate_one(args)
            return evaluate_many(args, entries)
    except (EvaluationError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (HfHubHTTPError, OSError) as error:  # the known causes are EvaluationErrors that say what to do
        print(f"error: the evaluation stopped: {first_line(error)}. Check --model, --dataset and --output-dir, and the "
              "network and your token (HF_TOKEN) for Hub ids.", file=sys.stderr)
        return 2


def evaluation_options(args: argparse.Namespace) -> dict:
    """The `evaluation.evaluate` keyword arguments every dataset of a run shares."""
    return dict(revision=args.revision, dataset_revision=args.dataset_revision, image_column=args.image_column,
                label_column=args.label_column, faces=args.faces, batch_size=args.batch_size, limit=args.limit,
                push_to_hub=args.push_to_hub, detection_max_side=args.detection_max_side,
                video_options=video_settings(args))


def suite_entries(args: argparse.Namespace) -> list | None:
    """The suite a command asks for (`--suite`, `--mixture`, several `--dataset`), or None for one dataset."""
    from .suite import SuiteEntry, read_suite

    chosen = [name for name, value in (("--suite", args.suite), ("--mixture", args.mixture)) if value]
    if len(chosen) > 1 or (chosen and args.dataset):
        raise ValueError("Pass one of --dataset (repeatable), --suite FILE or --mixture FILE.")
    if args.suite:
        return [SuiteEntry(e.dataset, e.name, e.split, e.degrade or args.degrade) for e in read_suite(args.suite)]
    if args.mixture:
        from .pipeline import load_pipeline
        from .training.mixture import read_mixture
        from .training.validation_suite import validation_suite

        config = load_pipeline(args.model, args.revision).model.config
        return validation_suite(read_mixture(args.mixture), config, args.degrade, image_column=args.image_column,
                                label_column=args.label_column)
    if args.dataset and len(args.dataset) > 1:
        return [SuiteEntry(dataset, split=args.split, degrade=args.degrade) for dataset in args.dataset]
    return None


def evaluate_one(args: argparse.Namespace) -> int:
    """One dataset split (see `evaluation.evaluate`): its metrics printed, its files written (and pushed)."""
    from . import evaluation
    from .report import format_metrics

    result = evaluation.evaluate(args.model, args.dataset[0] if args.dataset else None, split=args.split,
                                 output_dir=args.output_dir, degrade=args.degrade, **evaluation_options(args))
    if not result.files:  # another process of an `accelerate launch` run: the main one reports
        return 0
    print(format_metrics(result.metrics))
    print("Wrote " + ", ".join(str(path) for path in result.files.values()))
    if result.commit_url:
        print(f"Pushed: {result.commit_url}")
    return 0


def evaluate_many(args: argparse.Namespace, entries: list) -> int:
    """Every suite entry in turn, into its own sub-folder; then the table, one row per dataset (see `suite`)."""
    from .pipeline import load_pipeline
    from .suite import evaluate_suite, suite_markdown, write_suite

    options = evaluation_options(args)
    del options["revision"]
    detector = load_pipeline(args.model, args.revision, detection_max_side=options.pop("detection_max_side"))
    rows = evaluate_suite(detector, entries, args.output_dir, **options)
    print(suite_markdown(rows), end="")
    print("Wrote " + ", ".join(str(path) for path in write_suite(rows, args.output_dir).values()))
    return 0


def degradation(text: str) -> str:
    """An argparse type for `--degrade`: a name `degradations.degrade` understands."""
    try:
        check_degradation(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    return text


def add_evaluate_parser(commands: argparse._SubParsersAction) -> None:
    """Add `evaluate` and its options to the command line's subcommands."""
    evaluate_parser = commands.add_parser(
        "evaluate", help="Metrics, plots and model-index for a model on a labelled dataset split."
    )
    add_model_arguments(evaluate_parser)
    evaluate_parser.add_argument(
        "--dataset",
        action="append",
        default=None,
        help=f"Hub dataset id or local folder (default: ${DATASET_ENV}, else {default_dataset_id()}); repeat it to "
        "evaluate several, with one table row per dataset (suite.csv, suite.md).",
    )
    evaluate_parser.add_argument("--suite", default=None, metavar="FILE",
                                 help='A JSON list of datasets to evaluate: [{"dataset", "name", "split", "degrade"}].')
    evaluate_parser.add_argument("--mixture", default=None, metavar="FILE",
                                 help="Evaluate the validation parts a training mixture file holds back, source by "
                                 "source and fake family by family (see training.validation_suite).")
    evaluate_parser.add_argument("--degrade", default=None, metavar="NAME", type=degradation,
                                 help="Degrade every image before scoring, to measure robustness: an optional shrink "
                                 f"(half, third, quarter) and/or JPEG quality, e.g. {', '.join(EXAMPLE_DEGRADATIONS)}.")
    evaluate_parser.add_argument("--dataset-revision", default=None, help="Pin the dataset repo to a revision.")
    evaluate_parser.add_argument("--split", default=None, help="Split to evaluate (default: validation, else test, else the only split).")
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
