"""`deepfake-detection train`: the command's options (defaults from `TrainingRecipe`) and what it prints."""

from __future__ import annotations

import argparse
import sys

from ..arguments import add_column_arguments, positive_int
from ..errors import EvaluationError
from .recipe import AUGMENT_CHOICES, TrainingRecipe


def train(args: argparse.Namespace) -> int:
    """Train a detector (see `training.train_on_dataset`) and print where the best model and its metrics are."""
    from .run import train_on_dataset, train_on_mixture

    try:
        recipe = TrainingRecipe(
            image_size=args.image_size, face_crop_size=args.face_crop_size, batch_size=args.batch_size,
            learning_rate=args.learning_rate, weight_decay=args.weight_decay, max_steps=args.max_steps,
            eval_every=args.eval_every, paired=not args.no_pairs, self_blend_fraction=args.self_blend,
            augment=args.augment, ema_decay=args.ema_decay, seed=args.seed, precision=args.precision,
        )
        entries = mixture_entries(args)
        options = dict(faces=args.faces, limit=args.limit, init_model=args.init_model, resume=args.resume,
                       cache_dir=args.cache_dir, num_proc=args.num_proc, image_column=args.image_column,
                       label_column=args.label_column)
        if entries is None:
            best = train_on_dataset(args.dataset[0], args.output_dir, recipe, train_split=args.train_split,
                                    eval_split=args.eval_split, pairs_csv=args.pairs_csv, **options)
        else:
            best = train_on_mixture(entries, args.output_dir, recipe, **options)
    except (EvaluationError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if best:
        auc, weights = best["metrics"].get("eval_roc_auc"), best.get("weights")
        print(f"Best model: {args.output_dir}/best-model (step {best['step']}, {weights} weights, "
              f"validation ROC-AUC {auc:.4f})")
    return 0


def mixture_entries(args: argparse.Namespace) -> list | None:
    """The mixture a command asks for (`--mixture`, or several `--dataset`), or None for plain one-dataset training."""
    from .mixture import MixtureEntry, read_mixture

    if args.mixture and args.dataset:
        raise ValueError("Pass either --mixture FILE or --dataset, not both (a mixture file lists its datasets).")
    if args.mixture:
        return read_mixture(args.mixture)
    if not args.dataset:
        raise ValueError("Pass --dataset ID_OR_PATH (repeat it to train on several) or --mixture FILE.")
    if len(args.dataset) == 1:
        return None
    return [MixtureEntry(dataset, train_split=args.train_split, eval_split=args.eval_split) for dataset in args.dataset]


def add_train_parser(commands: argparse._SubParsersAction) -> None:
    """Add `train` and its options (defaults from `TrainingRecipe`) to the command line's subcommands."""
    parser = commands.add_parser("train", help="Train a detector on a labelled dataset of real and fake faces.")
    parser.add_argument("--dataset", action="append", default=None,
                        help="Hub dataset id or local folder (as for evaluate); repeat it to train on several at once, "
                        "each an equal share of the draws, with its own validation split.")
    parser.add_argument("--mixture", default=None, metavar="FILE",
                        help="A JSON mixture file: datasets with weights, sources, families and validation cuts "
                        "(see training.mixture.MixtureEntry).")
    parser.add_argument("--output-dir", required=True, help="Checkpoints, metrics.jsonl, best.json and best-model/.")
    parser.add_argument("--train-split", default="train")
    parser.add_argument("--eval-split", default="validation", help="Split for ROC-AUC during training.")
    parser.add_argument("--faces", choices=["detect", "crops"], default="detect",
                        help="detect: crop each image's face as inference does (cached); crops: images are crops.")
    add_column_arguments(parser)
    parser.add_argument("--pairs-csv", default=None,
                        help="CSV with file and source_video columns pairing fakes with their reals "
                        "(default: the dataset's source_video column, or metadata.csv in a local folder).")
    recipe = TrainingRecipe()
    parser.add_argument("--image-size", type=positive_int, default=recipe.image_size, help="Classifier input side.")
    parser.add_argument("--face-crop-size", type=positive_int, default=None,
                        help="Side of the face crop cut from each image, at training and inference (default: the "
                        "initial model's, 160 for a new one); the crop is then resized to --image-size.")
    parser.add_argument("--batch-size", type=positive_int, default=recipe.batch_size)
    parser.add_argument("--learning-rate", type=float, default=recipe.learning_rate)
    parser.add_argument("--weight-decay", type=float, default=recipe.weight_decay)
    parser.add_argument("--max-steps", type=positive_int, default=recipe.max_steps, help="Length of the cosine schedule.")
    parser.add_argument("--eval-every", type=positive_int, default=recipe.eval_every,
                        help="Validate and checkpoint every N steps.")
    parser.add_argument("--self-blend", type=float, default=recipe.self_blend_fraction,
                        help="Fraction of reals also shown self-blended, as extra fakes, per epoch (0 disables).")
    parser.add_argument("--no-pairs", action="store_true", help="Plain shuffled batches instead of real/fake pairs.")
    parser.add_argument("--augment", choices=AUGMENT_CHOICES, default=recipe.augment,
                        help="full: flip, shift/scale, colour, rescale, JPEG, cutout; light: flip and colour only "
                        "(nothing resamples or re-compresses pixels); none.")
    parser.add_argument("--no-augment", dest="augment", action="store_const", const="none",
                        help="The same as --augment none (kept for earlier commands).")
    parser.add_argument("--ema-decay", type=float, default=recipe.ema_decay,
                        help="Validate and keep an exponential moving average of the weights with this decay "
                        "(e.g. 0.999; 0, the default, keeps the raw weights).")
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


