"""Where models and datasets come from and go to: default ids (overridable by environment), revisions, uploads."""

from __future__ import annotations

import os
from pathlib import Path

PUBLISHED_MODEL_ID = "deepfake-detection/inception-resnet-v1-deepfake"
"""Where the bundled model is published on the Hub (`scripts/publish_model.py`); the Space deploys with it."""
BUNDLED_MODEL_DIR = Path(__file__).resolve().parent / "bundled_model"
"""The trained model that ships inside the package (a Hub-format folder): the offline default."""
DEFAULT_DATASET_ID = "deepfake-detection/ffpp-examples"
MODEL_ENV = "DEEPFAKE_DETECTION_MODEL"
DATASET_ENV = "DEEPFAKE_DETECTION_DATASET"
REVISION_ENV = "DEEPFAKE_DETECTION_REVISION"


def default_model_id() -> str:
    """The model used when none is given: `$DEEPFAKE_DETECTION_MODEL`, else the bundled model's folder (offline)."""
    return os.environ.get(MODEL_ENV) or str(BUNDLED_MODEL_DIR)


def default_dataset_id() -> str:
    """The example dataset used when none is given: `$DEEPFAKE_DETECTION_DATASET`, else the project's dataset."""
    return os.environ.get(DATASET_ENV) or DEFAULT_DATASET_ID


def default_revision() -> str | None:
    """The model revision to pin when none is given: `$DEEPFAKE_DETECTION_REVISION`, else the default branch."""
    return os.environ.get(REVISION_ENV) or None


def is_local(model: str | os.PathLike) -> bool:
    """Whether `model` names a local folder rather than a Hub repo id."""
    return Path(model).is_dir()


def push_folder(folder: str | os.PathLike, repo_id: str, repo_type: str = "model", message: str | None = None) -> str:
    """Create `repo_id` if needed and upload `folder` to it in one commit; return the commit's URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type=repo_type, exist_ok=True)
    commit = api.upload_folder(
        folder_path=str(folder), repo_id=repo_id, repo_type=repo_type, commit_message=message or f"Upload {repo_type}"
    )
    return commit.commit_url
