"""Results on disk and on the Hub: evaluation results written (CSV, JSON, and the plots of `plots`), read back (for
the Space), and published into the model repo's `eval/` folder and its card's model-index; their summary for the
console; a video's frame table and timeline files.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path, PurePath
from typing import Any, Sequence

from huggingface_hub import CommitOperationAdd, EvalResult, HfApi, ModelCard, ModelCardData
from huggingface_hub.errors import EntryNotFoundError

from .hub import is_local
from .metrics import METRIC_NAMES, POSITIVE_LABEL, THRESHOLDED_METRICS, Prediction
from .plots import PLOT_FILES, save_plots, timeline_figure
from .tracking import box_text

PREDICTIONS_FILE = "predictions.csv"
METRICS_FILE = "metrics.json"
RESULTS_ROOT = "eval"
"""The folder of a model repo that holds one `<dataset>-<split>/` results folder per evaluation."""
TASK_TYPE = "image-classification"
TASK_NAME = "Deepfake detection"
PREDICTION_COLUMNS = tuple(item.name for item in fields(Prediction))
VIDEO_TABLE_COLUMNS = ("frame", "time_s", "track", "box", "score", "fake_probability", "label")
"""The columns of a video's `NAME.frames.csv` (`VideoResult.table()`), one row per face per sampled frame."""


@dataclass
class SavedResults:
    """A results folder read back: its metrics and the plots it holds (by `PLOT_FILES` name)."""

    folder: Path
    metrics: dict[str, Any]
    plots: dict[str, Path]


def write_results(rows: Sequence[Prediction], metrics: dict[str, Any], config, output_dir: Path) -> dict[str, Path]:
    """Write predictions.csv, metrics.json and the plots; return them by name."""
    output_dir.mkdir(parents=True, exist_ok=True)
    files = {"predictions": output_dir / PREDICTIONS_FILE, "metrics": output_dir / METRICS_FILE}
    with files["predictions"].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=PREDICTION_COLUMNS)
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)
    files["metrics"].write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    files.update(save_plots(rows, metrics, config, output_dir))
    return files


def read_results(folder: str | Path) -> SavedResults:
    """A folder written by `write_results` (or downloaded from a repo's `eval/`): its metrics and plots."""
    folder = Path(folder)
    metrics = json.loads((folder / METRICS_FILE).read_text(encoding="utf-8"))
    plots = {name: folder / file for name, file in PLOT_FILES.items() if (folder / file).is_file()}
    return SavedResults(folder=folder, metrics=metrics, plots=plots)


def find_results(root: str | Path) -> dict[str, Path]:
    """Every results folder under `root` (a model folder or repo snapshot), by its path relative to `root`."""
    root = Path(root)
    found = sorted(root.glob(f"{RESULTS_ROOT}/**/{METRICS_FILE}"))
    return {str(path.parent.relative_to(root)): path.parent for path in found}


def published_results(model: str, revision: str | None = None) -> dict[str, Path]:
    """The results published with a model (a local folder or a Hub repo's `eval/`); none when it cannot be reached."""
    if is_local(model):
        return find_results(model)
    from huggingface_hub import snapshot_download

    try:
        root = snapshot_download(model, revision=revision, allow_patterns=[f"{RESULTS_ROOT}/*"])
    except Exception:  # noqa: BLE001 - offline and not cached, unreachable Hub: nothing published to show
        return {}
    return find_results(root)


def eval_results(metrics: dict[str, Any]) -> list[EvalResult]:
    """The metrics as `EvalResult`s for the card's model-index; metrics that could not be computed are left out."""
    dataset = metrics["dataset"]
    results = []
    for key, name in METRIC_NAMES.items():
        if metrics.get(key) is None:
            continue
        args = {"positive_label": POSITIVE_LABEL, "faces": metrics["faces"]}
        if key in THRESHOLDED_METRICS:
            args.update(threshold=metrics["threshold"], score_label=metrics["score_label"])
        results.append(
            EvalResult(
                task_type=TASK_TYPE,
                task_name=TASK_NAME,
                dataset_type=dataset["id"],
                dataset_name=dataset["id"],
                dataset_split=dataset["split"],
                dataset_config=metrics.get("degrade"),  # a degraded run is its own result beside the clean one
                dataset_revision=dataset["revision"],
                metric_type=key,
                metric_name=name,
                metric_value=metrics[key],
                metric_args=args,
            )
        )
    return results


def card_with_results(repo_id: str, metrics: dict[str, Any]) -> ModelCard:
    """The repo's model card with these results in its model-index; other results, metadata and text are kept.

    Earlier results for the same dataset and split are replaced.
    """
    try:
        card = ModelCard.load(repo_id)
    except EntryNotFoundError:
        data = ModelCardData(library_name="transformers", pipeline_tag=TASK_TYPE, tags=["deepfake-detection"])
        card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n# {repo_id.split('/')[-1]}\n")
    new = eval_results(metrics)
    same = {(result.task_type, result.dataset_type, result.dataset_config, result.dataset_split) for result in new}
    kept = [
        result
        for result in card.data.eval_results or []
        if (result.task_type, result.dataset_type, result.dataset_config, result.dataset_split) not in same
    ]
    card.data.eval_results = kept + new
    card.data.model_name = card.data.model_name or repo_id.split("/")[-1]
    return card


def results_folder(metrics: dict[str, Any]) -> str:
    """Where in the model repo these results go: `eval/<dataset>-<split>`."""
    dataset = metrics["dataset"]
    name = dataset["id"] if not Path(dataset["id"]).is_absolute() else Path(dataset["id"]).name
    return f"{RESULTS_ROOT}/{re.sub(r'[^A-Za-z0-9._-]+', '-', name.replace('/', '--'))}-{dataset['split']}"


def push_results(files: dict[str, Path], metrics: dict[str, Any], repo_id: str) -> str:
    """Upload the result files under `eval/` and the updated model card to `repo_id` in one commit; return its URL."""
    folder = results_folder(metrics)
    card = card_with_results(repo_id, metrics)
    operations = [CommitOperationAdd(f"{folder}/{path.name}", str(path)) for path in files.values()]
    operations.append(CommitOperationAdd("README.md", card.content.encode("utf-8")))
    dataset = metrics["dataset"]
    commit = HfApi().create_commit(
        repo_id, operations, commit_message=f"Evaluation on {dataset['id']} ({dataset['split']})"
    )
    return commit.commit_url


def video_output_names(paths: Sequence[str | os.PathLike]) -> dict[str, str]:
    """The NAME each video's outputs are written under: its file name without the suffix, unless another video of
    the run shares it (`real/000.mp4` and `fake/000.mp4`, `clip.mp4` and `clip.mov`); those get their path from the
    folder the run's videos share, with `__` for each separator (`real__000.mp4`), so no output overwrites another."""
    distinct = {os.path.abspath(path) for path in paths}
    stems = Counter(PurePath(path).stem for path in distinct)
    common = os.path.commonpath(sorted(distinct)) if len(distinct) > 1 else ""
    names = {}
    for path in paths:
        stem = PurePath(path).stem
        if stems[stem] == 1:
            names[str(path)] = stem
        else:
            names[str(path)] = "__".join(PurePath(os.path.relpath(os.path.abspath(path), common)).parts)
    return names


def write_video_outputs(result, config, folder: Path, name: str, threshold: float | None = None) -> dict[str, Path]:
    """Write a video's per-frame, per-face table (`NAME.frames.csv`), its timeline plot (`NAME.timeline.png`) and
    its frames that carry Grad-CAM overlays (`NAME.frameN.png`); return them by name."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"frames": folder / f"{name}.frames.csv", "timeline": folder / f"{name}.timeline.png"}
    rows = result.table()
    with files["frames"].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=VIDEO_TABLE_COLUMNS)
        writer.writeheader()
        writer.writerows({**row, "box": box_text(row["box"])} for row in rows)
    timeline_figure(result, config, threshold).savefig(files["timeline"], dpi=120)
    for frame in result.frames:
        if frame.overlay is not None:
            files[f"frame{frame.index}"] = folder / f"{name}.frame{frame.index}.png"
            frame.overlay.save(files[f"frame{frame.index}"])
    return files


def format_metrics(metrics: dict) -> str:
    """A readable summary of `metrics.json`."""

    def number(key: str) -> str:
        return "n/a" if metrics.get(key) is None else f"{metrics[key]:.3f}"

    model, dataset = metrics["model"], metrics["dataset"]
    lines = [
        f"Model:   {model['id']}" + (f" @ {model['revision']}" if model.get("revision") else ""),
        f"Dataset: {dataset['id']}" + (f" @ {dataset['revision']}" if dataset.get("revision") else "")
        + f", split {dataset['split']}, faces: {metrics['faces']}"
        + (f", degraded: {metrics['degrade']}" if metrics.get("degrade") else ""),
        f"Images:  {metrics['n']} ({metrics['n_scored']} scored; {metrics['n_no_face']} without a face, "
        f"{metrics.get('n_too_small', 0)} with faces too small to judge, {metrics['n_unreadable']} unreadable, {metrics['n_unlabelled']} unlabelled: excluded, see predictions.csv)",
        f"At threshold {metrics['threshold']} on P({metrics['score_label']}), fake = positive: "
        f"accuracy {number('accuracy')}  precision {number('precision')}  recall {number('recall')}  F1 {number('f1')}",
        f"Real faces called fake {number('real_called_fake')}  fakes caught {number('fakes_caught')}  "
        f"ECE of P(real) {number('ece')}",
        f"From scores: ROC-AUC {number('roc_auc')}  average precision {number('average_precision')}  "
        f"EER {number('eer')} (threshold {number('eer_threshold')})",
        f"Best balanced accuracy {number('best_balanced_accuracy')} at threshold "
        f"{number('best_balanced_accuracy_threshold')} (reported, not applied)",
    ]
    lines += [f"warning: {message}" for message in metrics["warnings"]]
    return "\n".join(lines)
