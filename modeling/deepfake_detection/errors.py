"""Every error the package raises on purpose, and the helpers that turn any failure into one line that says what to do.

Each exception's message names the input and the way out, so the CLI, the Space and scripts can show it as it is.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

from .hub import MODEL_ENV


class ImageLoadError(ValueError):
    """An input could not be read as an image; the message names the input and what to do."""


class VideoLoadError(ImageLoadError):
    """A video could not be read or sampled; the message names the file and why (corrupt, no frames, too large...)."""


class ModelNotAvailableError(RuntimeError):
    """The model could not be loaded; the message says how to point at one that can."""


class EvaluationError(ValueError):
    """The evaluation cannot run as asked; the message says what to change."""


class DatasetFolderError(ValueError):
    """A folder cannot be read as a labelled dataset; the message says which layout is expected."""


class ConversionError(ValueError):
    """The checkpoint cannot be converted faithfully; the message says what is wrong with it."""


class PolarityWarning(UserWarning):
    """ROC-AUC below 0.5: the model's `score_label` probably means the other class."""


def check_count(name: str, value, minimum: int = 1, optional: bool = False) -> None:
    """Refuse a count or size (`batch_size`, `num_frames`...) that is not a whole number of at least `minimum`, with
    one message that names the argument and its range, before any work starts (`optional`: `None` is allowed)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        allowed = " (or None for the default)" if optional else ""
        raise ValueError(f"{name} must be a whole number of at least {minimum}{allowed}, got {value!r}.")


def check_positive_number(name: str, value, optional: bool = False) -> None:
    """Refuse a rate or duration (`fps`...) that is not a finite number above 0, naming the argument and its range."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        allowed = " (or None for the default)" if optional else ""
        raise ValueError(f"{name} must be a finite number above 0{allowed}, got {value!r}.")


def folder_problem(folder: str | os.PathLike) -> str | None:
    """Why results cannot be written under `folder` (it, or the nearest folder above it that exists, is a file or not
    writable), else None: checked before any work, since nothing is created until the results are written."""
    existing = Path(folder)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


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
    return ModelNotAvailableError(
        f"Could not load the model {where!r}: {first_line(error)}\n"
        f"Either pass a local model folder (--model PATH), set {MODEL_ENV}=org/name (or --model org/name) to a model "
        "repo you can reach, or convert the original checkpoint and push it: "
        "python scripts/convert_checkpoint.py resnetinceptionv1_epoch_32.pth --output DIR --push-to-hub org/name"
    )
