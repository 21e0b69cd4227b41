"""Ship a training run's best model inside the package, evaluated as shipped, with its model card.

    python scripts/bundle_model.py --run runs/mix-all --loso-run runs/mix-loso

Exports `RUN/best-model` to `modeling/deepfake_detection/bundled_model/` (fp16 weights, replacing the old ones) and
evaluates that folder with the package's own evaluation, through face detection: DFDC validation clean and halved +
JPEG 50, the ffpp-examples frames clean and degraded, and every source's validation part of the training mixture.
With `--loso-run`, the leave-one-source-out run's model is evaluated on the sources it never saw. The card is
rendered from model_card.md with the training summary, the per-source table, the LOSO rows and the metrics.
"""

import argparse
import json
import sys
from pathlib import Path

from deepfake_detection.export import release_model, training_summary
from deepfake_detection.hub import BUNDLED_MODEL_DIR, PUBLISHED_MODEL_ID
from deepfake_detection.training.recipe import TrainingRecipe, train_command

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
DEGRADED = "half-jpeg50"
CROSS_DATASET_NOTE = (
    "DFDC validation: unseen source videos of the training data's own kind. ffpp-examples: FaceForensics++ full-HD "
    f"frames and photos, another dataset and other manipulation methods, only a few dozen images. `({DEGRADED})` rows: "
    "the same images halved and re-saved as JPEG quality 50, what a messaging app does. `extra-faces` rows: each fake "
    "kind's validation faces (sources of the training mixture, people never trained on) against the real validation "
    "photos of the same data set, and each real source alone (its false alarms)."
)
LICENCES = {
    "dfdc": "DFDC research terms",
    "extra/dinablachman/realorfake": "none stated",
    "extra/u1i/ai-faces": "none stated",
    "extra/BaseMax/FakeFaces": "GPL-3.0",
    "extra/hmdghoul/generated-faces": "none stated",
    "extra/gebaltso/SDFD": "none stated (academic)",
    "extra/yermandy/GenD": "MIT; FF++ and Celeb-DF terms",
    "extra/chandrikadeb7/Face-Mask-Detection": "MIT",
    "extra/serengil/deepface": "MIT",
    "extra/sczhou/CodeFormer": "S-Lab 1.0 (non-commercial)",
    "extra/andrew-valentin/HumanFaceImageGenerator": "CelebA (non-commercial research)",
    "extra/ageitgey/face_recognition": "MIT",
    "extra/deepinsight/insightface": "none stated (LFW)",
    "extra/timesler/facenet-pytorch": "MIT",
}
"""Each training source's licence, from ../shared/data/extra-faces/SOURCES.md and DFDC's terms."""


def mixture_sources(run: Path, mixture: str, config) -> list[dict]:
    """The run's per-source table (`mixture.json`; recomputed from the cached crops for runs that predate it)."""
    from deepfake_detection.training.mixture import read_mixture, source_table, source_weights
    from deepfake_detection.training.run import MIXTURE_FILE, load_mixture_crops

    if (run / MIXTURE_FILE).is_file():
        rows = json.loads((run / MIXTURE_FILE).read_text())["sources"]
    else:
        entries = read_mixture(mixture)
        train_set, eval_set = load_mixture_crops(entries, config)
        rows = source_table(train_set, eval_set, source_weights(train_set, {e.name: e.weight for e in entries}))
    return [{**row, "licence": LICENCES.get(row["source"], "see SOURCES.md")} for row in rows]


def loso_rows(loso_run: Path, mixture: str, output_dir: Path) -> list:
    """The LOSO run's calibrated best model on the sources it never trained on, through face detection."""
    from deepfake_detection.pipeline import load_pipeline
    from deepfake_detection.suite import evaluate_suite
    from deepfake_detection.training.mixture import read_mixture
    from deepfake_detection.training.validation_suite import validation_suite

    detector = load_pipeline(str(loso_run / "best-model"))
    entries = [entry for entry in validation_suite(read_mixture(mixture), detector.model.config)
               if "(held out)" in entry.label]
    return [row.__dict__ for row in evaluate_suite(detector, entries, output_dir)]


def evaluation_specs(args, config) -> list[dict]:
    """What the shipped model is measured on: DFDC and ffpp clean and degraded, and the mixture's validation parts."""
    from deepfake_detection.training.mixture import read_mixture
    from deepfake_detection.training.validation_suite import validation_suite

    specs = []
    for name, dataset, split in (("DFDC face crops", args.dfdc, "validation"),
                                 ("ffpp-examples (cross-dataset)", args.ffpp, "test")):
        specs.append({"name": name, "dataset": dataset, "split": split})
        specs.append({"name": f"{name} ({DEGRADED})", "dataset": dataset, "split": split, "degrade": DEGRADED})
    for entry in validation_suite(read_mixture(args.mixture), config):
        if not entry.label.startswith("dfdc"):
            specs.append({"name": f"extra-faces: {entry.label}", "dataset": entry.dataset, "split": "validation"})
    return specs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="The training run's output folder (holds best.json).")
    parser.add_argument("--mixture", default=str(ROOT / "mixtures" / "generalist.json"),
                        help="The mixture file the run trained on.")
    parser.add_argument("--loso-run", default=None, help="The leave-one-source-out run (holds best-model/).")
    parser.add_argument("--loso-mixture", default=str(ROOT / "mixtures" / "leave-out-genfaces-sdfd.json"))
    parser.add_argument("--dfdc", default=str(DATA / "dfdc-faces"), help="DFDC face crops (validation split used).")
    parser.add_argument("--ffpp", default=str(DATA / "ffpp-examples"), help="The ffpp-examples frames.")
    parser.add_argument("--target", default=str(BUNDLED_MODEL_DIR), help="Where the release folder goes.")
    parser.add_argument("--eval-dir", default=str(ROOT / "eval-results"), help="Where evaluation results go.")
    parser.add_argument("--note", default=None, help="A sentence for the card on how the run went (resumes, ...).")
    parser.add_argument("--init-model", default=None, help="The model the run was warm-started from.")
    args = parser.parse_args(argv)
    from deepfake_detection.configuration_deepfake_detector import DeepfakeDetectorConfig
    from deepfake_detection.training.source_metrics import SELECTION_RULE

    run = Path(args.run)
    summary = training_summary(run)
    recipe = TrainingRecipe(**summary["recipe"])
    init_model = args.init_model or summary.get("init_model")
    config = DeepfakeDetectorConfig.from_pretrained(run / "best-model")
    calibration_file = run / "best-model" / "calibration.json"
    mixture_name = Path(args.mixture).relative_to(ROOT) if Path(args.mixture).is_relative_to(ROOT) else args.mixture
    command = train_command(recipe, str(mixture_name), f"runs/{run.name}", init_model, mixture=True)
    card_values = {
        "repo_id": PUBLISHED_MODEL_ID,
        "model_name": PUBLISHED_MODEL_ID.split("/")[-1],
        "cross_dataset_note": CROSS_DATASET_NOTE,
        "training": {
            "command": command,
            "init_model": init_model,
            "dataset": f"the mixture `{mixture_name}`: DFDC face crops (train split) and `extra-faces` (GAN, "
                       "diffusion, face-swap and real photos from a dozen public sources), per source below",
            "validation_note": "DFDC's validation split, and 20% of every other source, by identity where known",
            "batches": "half real, half fake, drawn source by source",
            "selection_rule": f"the checkpoint with the best {SELECTION_RULE}",
            "calibration": json.loads(calibration_file.read_text()) if calibration_file.is_file() else None,
            "sources": mixture_sources(run, args.mixture, config),
            "note": args.note,
        },
    }
    if args.loso_run:
        card_values["loso"] = {
            "note": "A separate run with the same recipe held out two sources entirely: one GAN source "
                    "(`hmdghoul/generated-faces`, Generated.Photos-style) and the only Stable Diffusion source (`SDFD`). "
                    "Its calibrated model, through face detection, on those faces against the real validation photos:",
            "rows": loso_rows(Path(args.loso_run), args.loso_mixture, Path(args.eval_dir) / "loso"),
        }
    target = release_model(run, args.target, ROOT / "model_card.md", evaluation_specs(args, config), args.eval_dir,
                           card_values)
    print(f"Bundled {run}/best-model (step {summary['step']}) into {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
