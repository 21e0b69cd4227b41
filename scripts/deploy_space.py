"""Deploy the Gradio Space: upload space/ with the deepfake_detection package to a Space repo and set its variables.

    python scripts/deploy_space.py --space-id org/deepfake-detection [--model ID] [--dataset ID] [--revision REV]

The Space repo is created when missing (`sdk: gradio`). It receives `app.py` and `uploads.py`, `requirements.txt`, the
`README.md` front matter pointed at the chosen model and dataset, and the package source as `deepfake_detection/`
(imported by app.py, so the Space runs exactly this checkout's code). The variables DEEPFAKE_DETECTION_MODEL and
DEEPFAKE_DETECTION_DATASET (and DEEPFAKE_DETECTION_REVISION with --revision) tell the app what to load.
"""

from __future__ import annotations

import argparse
import shutil
import os
import sys
import tempfile
from pathlib import Path

from huggingface_hub import HfApi, SpaceCard
from huggingface_hub.errors import HfHubHTTPError

from deepfake_detection.hub import (
    DATASET_ENV,
    MODEL_ENV,
    PUBLISHED_MODEL_ID,
    REVISION_ENV,
    default_dataset_id,
    is_local,
)
from deepfake_detection.errors import hub_failure

ROOT = Path(__file__).resolve().parent.parent
SPACE_DIR = ROOT / "space"
PACKAGE_DIR = ROOT / "modeling" / "deepfake_detection"
SPACE_FILES = ("app.py", "uploads.py", "requirements.txt")


def stage_space(folder: Path, model: str, dataset: str) -> Path:
    """Write the Space's files into `folder`: app, requirements, README (models/datasets set) and the package."""
    for name in SPACE_FILES:
        shutil.copy2(SPACE_DIR / name, folder / name)
    card = SpaceCard.load(SPACE_DIR / "README.md")
    card.data.models = [model]
    card.data.datasets = [dataset]
    card.save(folder / "README.md")
    shutil.copytree(PACKAGE_DIR, folder / "deepfake_detection", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return folder


def deploy_space(
    space_id: str, model: str, dataset: str, revision: str | None = None, private: bool | None = None
) -> str:
    """Create the Space if needed, upload its files in one commit, set its variables; return the commit URL."""
    api = HfApi()
    api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="space-") as staging:
        stage_space(Path(staging), model, dataset)
        commit = api.upload_folder(
            repo_id=space_id,
            repo_type="space",
            folder_path=staging,
            commit_message=f"Deploy the app for {model}",
            delete_patterns=["deepfake_detection/**"],
        )
    variables = {MODEL_ENV: model, DATASET_ENV: dataset}
    if revision:
        variables[REVISION_ENV] = revision
    for key, value in variables.items():
        api.add_space_variable(space_id, key, value)
    return commit.commit_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space-id", required=True, help="The Space repo, org/name (created when missing).")
    parser.add_argument("--model", default=None, help=f"Model repo id the Space loads (default ${MODEL_ENV}, else {PUBLISHED_MODEL_ID}).")
    parser.add_argument("--dataset", default=None, help=f"Example dataset repo id (default {default_dataset_id()}).")
    parser.add_argument("--revision", default=None, help="Pin the model to a branch, tag or commit.")
    parser.add_argument("--private", action="store_true", help="Create the Space as private.")
    args = parser.parse_args(argv)
    model = args.model or os.environ.get(MODEL_ENV) or PUBLISHED_MODEL_ID
    dataset = args.dataset or default_dataset_id()
    for kind, value in (("--model", model), ("--dataset", dataset)):
        if is_local(value):
            message = f"{kind} {value} is a local folder; a Space needs a Hub repo id: push it first."
            print(f"error: {message}", file=sys.stderr)
            return 2
    try:
        url = deploy_space(args.space_id, model, dataset, args.revision, args.private or None)
    except (HfHubHTTPError, OSError) as error:
        print(f"error: {hub_failure('deploy the Space', args.space_id, error)}", file=sys.stderr)
        return 1
    print(f"Deployed {args.space_id}: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
