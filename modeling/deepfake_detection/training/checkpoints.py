"""Resuming a run: its output folder checked before any data is read, the checkpoint it continues from verified (a
damaged newest one set aside for the previous good one), the recipe it must keep, and its log kept free of repeats.

What a resume restores is the `Trainer`'s: the weights, the optimizer and the schedule (`optimizer.pt`,
`scheduler.pt`; a run whose checkpoint lacks them is warned that they restart), the Python, NumPy and torch random
states (`rng_state.pth`), and the order of the batches (the sampler's order depends only on the seed and the epoch,
and the batches already trained are skipped). Augmentations are not replayed: `FaceCropDataset` derives each item's
random state from the seed, the item's index and its count of draws, and that count restarts at 0 in a resumed run.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import asdict
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..errors import folder_problem
from .recipe import TrainingRecipe

WEIGHT_FILES = ("model.safetensors", "ema.safetensors")
"""The weights a checkpoint holds (the EMA's only with `--ema-decay`); `model.safetensors` must be there."""
STATE_FILE = "trainer_state.json"
OPTIMIZER_FILES = ("optimizer.pt", "scheduler.pt")
"""What a checkpoint needs to continue the same optimisation rather than restart the optimizer and the schedule."""
DAMAGED_PREFIX = "damaged-"
"""A damaged checkpoint is renamed with this prefix, so that no later resume or checkpoint rotation takes it."""
RESUMABLE_CHANGES = ("max_steps", "eval_every")
"""Recipe fields a resumed run may change (to shorten or lengthen its schedule); any other change would mix recipes."""
RECIPE_FLAGS = {"paired": "--no-pairs", "self_blend_fraction": "--self-blend"}
"""Command-line flags whose names differ from their recipe field."""


def check_output_dir(output_dir: Path) -> None:
    """Refuse an `--output-dir` that cannot hold a run (a file, or not writable), before any data is read."""
    reason = folder_problem(output_dir)
    if reason:
        raise ValueError(f"Cannot write the run to {output_dir}: {reason}. Choose another --output-dir.")


def checkpoint_problem(checkpoint: Path) -> str | None:
    """Why a checkpoint folder cannot be resumed (missing or unreadable weights or state, a damaged file), or None."""
    from safetensors import SafetensorError, safe_open

    if not (checkpoint / WEIGHT_FILES[0]).is_file():
        return f"no {WEIGHT_FILES[0]}" if checkpoint.is_dir() else "no such checkpoint folder"
    for name in WEIGHT_FILES:
        if (checkpoint / name).is_file():
            try:
                with safe_open(str(checkpoint / name), framework="pt") as weights:
                    weights.keys()
            except (SafetensorError, OSError, ValueError) as error:
                return f"{name} is damaged ({str(error).strip()})"
    try:
        json.loads((checkpoint / STATE_FILE).read_text())["global_step"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"{STATE_FILE} is missing or damaged ({type(error).__name__})"
    for path in sorted(checkpoint.glob("*.pt")) + sorted(checkpoint.glob("*.pth")):
        if not zipfile.is_zipfile(path):  # torch.save writes zip archives: a cut-off one has no central directory
            return f"{path.name} is damaged (not a complete torch file)"
    return None


def resume_checkpoint(output_dir: Path, resume: bool | str | os.PathLike) -> Path | None:
    """The checkpoint a run continues from, after checking that `output_dir` can hold a run: `resume` itself when it
    is a path (refused when damaged), the newest good one in `output_dir` when it is True (newer damaged ones are
    named and set aside); None when not resuming or when there is no checkpoint yet (a new run then starts)."""
    check_output_dir(Path(output_dir))
    if not resume:
        return None
    if resume is not True:
        problem = checkpoint_problem(Path(resume))
        if problem:
            raise ValueError(f"--resume {resume}: cannot resume from it: {problem}. Pass another checkpoint-N folder, "
                             "or --resume alone to take the newest good one in --output-dir.")
        return Path(resume)
    candidates = sorted(Path(output_dir).glob(f"{PREFIX_CHECKPOINT_DIR}-*"), key=_step, reverse=True)
    candidates = [path for path in candidates if _step(path) >= 0 and path.is_dir()]
    damaged = []
    for checkpoint in candidates:
        problem = checkpoint_problem(checkpoint)
        if problem is None:
            _set_aside(damaged, checkpoint)
            return checkpoint
        damaged.append((checkpoint, problem))
    if damaged:
        listed = "; ".join(f"{path.name}: {problem}" for path, problem in damaged)
        raise ValueError(f"No checkpoint in {output_dir} can be resumed ({listed}). Start again with another "
                         "--output-dir, or --init-model it/best-model to warm-start from its best model.")
    return None


def _step(checkpoint: Path) -> int:
    suffix = checkpoint.name[len(PREFIX_CHECKPOINT_DIR) + 1:]
    return int(suffix) if suffix.isdigit() else -1


def _set_aside(damaged: list[tuple[Path, str]], chosen: Path) -> None:
    """Rename the damaged checkpoints newer than `chosen` (kept for inspection) and say so."""
    for path, problem in damaged:
        target, copy = path.with_name(DAMAGED_PREFIX + path.name), 1
        while target.exists():  # set aside before, at the same step
            target, copy = path.with_name(f"{DAMAGED_PREFIX}{path.name}-{copy}"), copy + 1
        path.rename(target)
        print(f"warning: {path} is damaged ({problem}): renamed to {target.name}; resuming from {chosen.name}, the "
              "newest good checkpoint.")


def missing_optimizer_state(checkpoint: Path) -> list[str]:
    """The optimizer and schedule files a checkpoint lacks (the `Trainer` would silently start them afresh)."""
    return [name for name in OPTIMIZER_FILES if not (checkpoint / name).is_file()]


def warn_missing_optimizer_state(checkpoint: Path) -> None:
    """Say, before resuming, that the optimizer's moments or the learning-rate schedule restart."""
    missing = missing_optimizer_state(checkpoint)
    if missing:
        print(f"warning: {checkpoint} has no {' or '.join(missing)}: the run resumes its weights and step with a "
              "fresh optimizer (its moments start at zero) and schedule, so its first steps differ from an "
              "uninterrupted run. Resume from a complete checkpoint to avoid it.")


def trim_log(log: Path, step: int) -> list[dict]:
    """Drop the rows of `metrics.jsonl` logged after `step` (by a run stopped after its last checkpoint), which the
    resumed run logs again; return the rows kept."""
    if not log.is_file():
        return []
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    kept = [row for row in rows if row.get("step", 0) <= step]
    if len(kept) < len(rows):
        log.write_text("".join(json.dumps(row) + "\n" for row in kept))
    return kept


def check_resumed_recipe(saved: Path, recipe: TrainingRecipe) -> None:
    """Refuse to resume a run with another recipe than it started with (e.g. a forgotten `--ema-decay`), naming the
    options to pass; only `RESUMABLE_CHANGES` may differ."""
    if not saved.is_file():
        return
    started = asdict(TrainingRecipe(**json.loads(saved.read_text())))
    asked = asdict(recipe)
    changed = [name for name in asked if name not in RESUMABLE_CHANGES and started[name] != asked[name]]
    if changed:
        flags = ", ".join(
            f"{RECIPE_FLAGS.get(name, '--' + name.replace('_', '-'))} {started[name]!r} (got {asked[name]!r})"
            for name in changed
        )
        raise ValueError(f"This run started with another recipe: resume it with the same options ({flags}); only "
                         "--max-steps and --eval-every may change when resuming.")
