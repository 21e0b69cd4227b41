"""An evaluation suite: one detector over several datasets (clean or degraded), one table with a row per dataset.

Each dataset is evaluated by `evaluation.evaluate` into its own sub-folder; the suite adds `suite.csv`,
`suite.md` and `suite.json` at the top, whose rows say what users feel: ranking (ROC-AUC, AP, EER), the share of real
faces called fake and of fakes caught at the shipped threshold, the ECE of P(real), and how many faces were found.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import datasets

from .degradations import check_degradation

SUITE_FILES = ("suite.csv", "suite.md", "suite.json")


@dataclass(frozen=True)
class SuiteEntry:
    """One dataset of a suite: anything `evaluate` accepts, its split (None: evaluate's choice) and a degradation."""

    dataset: str | datasets.Dataset
    name: str | None = None
    split: str | None = None
    degrade: str | None = None

    def __post_init__(self):
        check_degradation(self.degrade)

    @property
    def label(self) -> str:
        """The row's name: the entry's own, or the dataset's, with the degradation after it."""
        base = self.name or (self.dataset.info.dataset_name if isinstance(self.dataset, datasets.Dataset)
                             else Path(str(self.dataset)).name or str(self.dataset))
        return f"{base} ({self.degrade})" if self.degrade else base


@dataclass(frozen=True)
class SuiteRow:
    """One dataset's headline numbers (None where a metric needs a class the dataset lacks)."""

    dataset: str
    split: str
    degrade: str | None
    images: int
    faces_found: int
    roc_auc: float | None
    average_precision: float | None
    eer: float | None
    real_called_fake: float | None
    fakes_caught: float | None
    ece: float | None

    @classmethod
    def from_metrics(cls, name: str, metrics: dict[str, Any]) -> "SuiteRow":
        """The row of one `evaluate` run's metrics."""
        return cls(dataset=name, split=metrics["dataset"]["split"], degrade=metrics.get("degrade"),
                   images=metrics["n"], faces_found=metrics["n_scored"], roc_auc=metrics.get("roc_auc"),
                   average_precision=metrics.get("average_precision"), eer=metrics.get("eer"),
                   real_called_fake=metrics.get("real_called_fake"), fakes_caught=metrics.get("fakes_caught"),
                   ece=metrics.get("ece"))


def read_suite(path: str | os.PathLike) -> list[SuiteEntry]:
    """A suite file: a JSON list of `{"dataset", "name", "split", "degrade"}` (paths relative to the file)."""
    path = Path(path)
    try:
        items = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"Suite file {path}: {error}. It must be a JSON list of {{\"dataset\": ...}} objects.") from error
    if not isinstance(items, list) or not all(isinstance(item, dict) and "dataset" in item for item in items):
        raise ValueError(f"Suite file {path}: expected a JSON list of objects, each with a \"dataset\".")
    entries = []
    for item in items:
        dataset = str(item["dataset"])
        local = (path.parent / dataset)
        entries.append(SuiteEntry(str(local) if local.exists() else dataset, item.get("name"), item.get("split"),
                                  item.get("degrade")))
    return entries


def run_folder(entry: SuiteEntry, index: int) -> str:
    """The sub-folder of one entry's full results: its position and name, in file-name-safe characters."""
    return f"{index:02d}-" + re.sub(r"[^A-Za-z0-9._-]+", "-", entry.label).strip("-")


def evaluate_suite(detector, entries: list[SuiteEntry], output_dir: str | os.PathLike = "evaluation",
                   **options: Any) -> list[SuiteRow]:
    """Evaluate `detector` (a loaded pipeline, a model id or a folder) on every entry; write the suite table.

    `options` go to every `evaluate` call (faces, batch_size, limit, ...).
    """
    from .evaluation import evaluate
    from .pipeline import DeepfakeDetectionPipeline, load_pipeline

    if not entries:
        raise ValueError("The suite is empty: pass at least one --dataset (or a suite file with one entry).")
    if not isinstance(detector, DeepfakeDetectionPipeline):
        detector = load_pipeline(detector)
    output_dir = Path(output_dir)
    rows = []
    for index, entry in enumerate(entries):
        result = evaluate(detector, entry.dataset, split=entry.split, degrade=entry.degrade,
                          output_dir=output_dir / run_folder(entry, index), **options)
        rows.append(SuiteRow.from_metrics(entry.label, result.metrics))
        write_suite(rows, output_dir)  # after every dataset, so a stopped suite keeps what it measured
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def suite_markdown(rows: list[SuiteRow]) -> str:
    """The rows as a Markdown table (shares and ECE as fractions, three decimals)."""
    names = [field.name for field in fields(SuiteRow)]
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_cell(getattr(row, name)) for name in names) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_suite(rows: list[SuiteRow], output_dir: str | os.PathLike) -> dict[str, Path]:
    """Write `suite.csv`, `suite.md` and `suite.json` into `output_dir`; return their paths."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: output_dir / name for name in SUITE_FILES}
    with open(paths["suite.csv"], "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[field.name for field in fields(SuiteRow)])
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)
    paths["suite.md"].write_text(suite_markdown(rows))
    paths["suite.json"].write_text(json.dumps([asdict(row) for row in rows], indent=2))
    return paths
