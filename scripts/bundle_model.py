"""Ship a training run's best model inside the package, evaluated as shipped, with its model card.

    python scripts/bundle_model.py --run runs/dfdc-128

Exports `RUN/best-model` to `modeling/deepfake_detection/bundled_model/` (fp16 weights, replacing the old ones),
evaluates that folder with `deepfake-detection evaluate` on the DFDC validation split and on the ffpp-examples
frames (cross-dataset), and renders README.md from model_card.md with the training summary and those metrics.
"""

import argparse
import sys
from pathlib import Path

from deepfake_detection.export import release_model, training_summary
from deepfake_detection.hub import BUNDLED_MODEL_DIR, PUBLISHED_MODEL_ID
from deepfake_detection.training.recipe import TrainingRecipe, train_command

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
CROSS_DATASET_NOTE = (
    "DFDC validation is the training data's own distribution (unseen source videos). The ffpp-examples frames are "
    "FaceForensics++ full-HD frames and photos: another dataset, other manipulation methods, so they measure "
    "cross-dataset generalisation, on only a few dozen images."
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="The training run's output folder (holds best.json).")
    parser.add_argument("--dfdc", default=str(DATA / "dfdc-faces"), help="DFDC face crops (validation split used).")
    parser.add_argument("--ffpp", default=str(DATA / "ffpp-examples"), help="The ffpp-examples frames.")
    parser.add_argument("--target", default=str(BUNDLED_MODEL_DIR), help="Where the release folder goes.")
    parser.add_argument("--eval-dir", default=str(ROOT / "eval-results"), help="Where evaluation results go.")
    parser.add_argument("--note", default=None, help="A sentence for the card on how the run went (resumes, ...).")
    parser.add_argument("--init-model", default=None,
                        help="The model the run was warm-started from, for runs whose best.json does not record it.")
    args = parser.parse_args(argv)
    summary = training_summary(args.run)
    recipe = TrainingRecipe(**summary["recipe"])
    init_model = args.init_model or summary.get("init_model")
    specs = [
        {"name": "DFDC face crops", "dataset": args.dfdc, "split": "validation"},
        {"name": "ffpp-examples (cross-dataset)", "dataset": args.ffpp, "split": "test"},
    ]
    card_values = {
        "repo_id": PUBLISHED_MODEL_ID,
        "model_name": PUBLISHED_MODEL_ID.split("/")[-1],
        "cross_dataset_note": CROSS_DATASET_NOTE,
        "training": {
            "command": train_command(recipe, "../shared/data/dfdc-faces", f"runs/{Path(args.run).name}", init_model),
            "init_model": init_model,
            "dataset": "DFDC face crops (224×224, `../shared/data/dfdc-faces`, train split)",
            "note": args.note,
        },
    }
    target = release_model(args.run, args.target, ROOT / "model_card.md", specs, args.eval_dir, card_values)
    print(f"Bundled {args.run}/best-model (step {summary['step']}) into {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
