"""Where models and datasets come from: default Hub ids (overridable), revisions, and errors that say what to do."""

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


class ModelNotAvailableError(RuntimeError):
    """The model could not be loaded; the message says how to point at one that can."""


def default_model_id() -> str:
    """The model used when none is given: `$DEEPFAKE_DETECTION_MODEL`, else the bundled model's folder (offline)."""
    return os.environ.get(MODEL_ENV) or str(BUNDLED_MODEL_DIR)


def default_dataset_id() -> str:
    """The example dataset used when none is given: `$DEEPFAKE_DETECTION_DATASET`, else the project's dataset."""
    return os.environ.get(DATASET_ENV) or DEFAULT_DATASET_ID


def default_revision() -> str | None:
    """The model revision to pin when none is given: `$DEEPFAKE_DETECTION_REVISION`, else the default branch."""
    return os.environ.get(REVISION_ENV) or None


def first_line(error: BaseException) -> str:
    """The exception's type and the first line of its message (many library errors run to paragraphs)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def hub_failure(action: str, repo_id: str, error: BaseException) -> str:
    """One line for a failed Hub call: what was tried, the answer, and what to check."""
    return (
        f"could not {action} {repo_id}: {first_line(error).rstrip('.')}. Check the repo id, the network, and your "
        "token's access to it (HF_TOKEN or `hf auth login`)."
    )


def model_not_available(model: str, revision: str | None, error: BaseException) -> ModelNotAvailableError:
    """Wrap a loading failure into an error that names the model and the three ways out."""
    where = f"{model}@{revision}" if revision else model
    reason = first_line(error)
    return ModelNotAvailableError(
        f"Could not load the model {where!r}: {reason}\n"
        f"Either pass a local model folder (--model PATH), set {MODEL_ENV}=org/name (or --model org/name) to a model "
        "repo you can reach, or convert the original checkpoint and push it: "
        "python scripts/convert_checkpoint.py resnetinceptionv1_epoch_32.pth --output DIR --push-to-hub org/name"
    )


def is_local(model: str | os.PathLike) -> bool:
    """Whether `model` names a local folder rather than a Hub repo id."""
    return Path(model).is_dir()


def load_pipeline(model: str | os.PathLike | None = None, revision: str | None = None, **kwargs):
    """The `deepfake-detection` pipeline for a Hub repo id or local folder (default: `default_model_id()`).

    The model's code comes from this package, never from the repo, so no remote code runs.

    This is the one loading boundary: whatever stops the model loading (unreachable repo, damaged or half-downloaded
    weights, an invalid config or processor config) becomes a `ModelNotAvailableError` that says what to do.
    """
    from transformers import pipeline

    model = str(model or default_model_id())
    revision = revision or default_revision()
    try:
        return pipeline("deepfake-detection", model=model, revision=revision, trust_remote_code=False, **kwargs)
    except Exception as error:  # noqa: BLE001 - loaders raise dozens of types; all mean "this model cannot load"
        raise model_not_available(model, revision, error) from error


def push_folder(folder: str | os.PathLike, repo_id: str, repo_type: str = "model", message: str | None = None) -> str:
    """Create `repo_id` if needed and upload `folder` to it in one commit; return the commit's URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type=repo_type, exist_ok=True)
    commit = api.upload_folder(
        folder_path=str(folder), repo_id=repo_id, repo_type=repo_type, commit_message=message or f"Upload {repo_type}"
    )
    return commit.commit_url
