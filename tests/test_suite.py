"""Evaluation suites: one detector over several datasets, one table row per dataset; degraded runs differ only by
their pixels."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from model_factory import face_crops, make_model, save_model

from deepfake_detection.cli import main
from deepfake_detection.degradations import degrade
from deepfake_detection.pipeline import load_pipeline
from deepfake_detection.suite import SuiteEntry, evaluate_suite, read_suite

pytestmark = pytest.mark.filterwarnings("ignore::deepfake_detection.errors.PolarityWarning")  # random model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return save_model(make_model(seed=0), tmp_path_factory.mktemp("model"))


def crop_folder(folder: Path, count: int, seed: int) -> Path:
    folder.mkdir(parents=True)
    for index, crop in enumerate(face_crops(count, seed=seed)):
        crop.resize((96, 96)).save(folder / f"{['fake', 'real'][index % 2]}_{index}.png")
    return folder


def test_the_suite_writes_one_row_per_dataset_from_each_datasets_own_metrics(model_dir, tmp_path):
    first, second = crop_folder(tmp_path / "one", 4, seed=1), crop_folder(tmp_path / "two", 6, seed=2)
    code = main(["evaluate", "--model", str(model_dir), "--dataset", str(first), "--dataset", str(second),
                 "--faces", "crops", "--output-dir", str(tmp_path / "out")])
    assert code == 0
    with open(tmp_path / "out" / "suite.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["dataset"] for row in rows] == ["one", "two"]
    for row, folder in zip(rows, sorted((tmp_path / "out").glob("0*-*"))):
        metrics = json.loads((folder / "metrics.json").read_text())
        assert int(row["images"]) == metrics["n"] and float(row["roc_auc"]) == pytest.approx(metrics["roc_auc"])
        assert float(row["real_called_fake"]) == pytest.approx(metrics["real_called_fake"])
        assert float(row["ece"]) == pytest.approx(metrics["ece"])
    assert [int(row["images"]) for row in rows] == [4, 6]
    table = (tmp_path / "out" / "suite.md").read_text()
    assert table.count("\n") == 4 and "| one |" in table and "| two |" in table


def test_degrade_changes_the_pixels_and_nothing_else(model_dir, tmp_path):
    folder = crop_folder(tmp_path / "data", 6, seed=3)
    detector = load_pipeline(model_dir)
    clean, degraded = evaluate_suite(detector, [SuiteEntry(str(folder)), SuiteEntry(str(folder), degrade="jpeg30")],
                                     tmp_path / "out", faces="crops", progress=False)
    assert degraded.dataset == "data (jpeg30)" and degraded.degrade == "jpeg30" and clean.degrade is None
    assert (clean.images, clean.faces_found) == (degraded.images, degraded.faces_found)
    outputs = sorted((tmp_path / "out").glob("0*-*"))
    predictions = [list(csv.DictReader(open(path / "predictions.csv", newline=""))) for path in outputs]
    assert [(r["path"], r["label"]) for r in predictions[0]] == [(r["path"], r["label"]) for r in predictions[1]]
    assert [r["fake_score"] for r in predictions[0]] != [r["fake_score"] for r in predictions[1]]
    from PIL import Image

    expected = detector.classify_crops([degrade(Image.open(r["path"]).convert("RGB"), "jpeg30")
                                        for r in predictions[1]])
    np.testing.assert_allclose([float(r["fake_score"]) for r in predictions[1]],
                               [face.probabilities["fake"] for face in expected], atol=1e-6)


def test_suite_files_resolve_datasets_beside_them_and_bad_degradations_are_refused(tmp_path):
    crop_folder(tmp_path / "data", 2, seed=4)
    (tmp_path / "suite.json").write_text(json.dumps([{"dataset": "data", "degrade": "half-jpeg50"}]))
    [entry] = read_suite(tmp_path / "suite.json")
    assert entry.dataset == str(tmp_path / "data") and entry.label == "data (half-jpeg50)"
    with pytest.raises(ValueError, match="Unknown degradation"):
        SuiteEntry("data", degrade="sepia")
    with pytest.raises(SystemExit):
        main(["evaluate", "--dataset", "x", "--degrade", "sepia"])
