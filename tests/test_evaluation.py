"""Evaluation: every metric is checked against values recomputed here from predictions.csv, by hand or with sklearn."""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path

import datasets
import numpy as np
import pytest
from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData, hf_hub_download
from PIL import Image
from sklearn.metrics import average_precision_score, roc_auc_score

from deepfake_detection import DeepfakeDetectorConfig, DeepfakeDetectorImageProcessor
from deepfake_detection.cli import main
from deepfake_detection.errors import EvaluationError, PolarityWarning
from deepfake_detection.evaluation import evaluate
from deepfake_detection.hub import push_folder
from deepfake_detection.metrics import METRIC_NAMES, Prediction, compute_metrics
from deepfake_detection.outputs import NO_FACE_MESSAGE
from deepfake_detection.pipeline import load_pipeline
from deepfake_detection.report import push_results, results_folder
from model_factory import astronaut, face_crops, faces_image, make_model, save_model

FEATURES = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["fake", "real"])})
CORRUPT = {"bytes": b"definitely not an image", "path": "corrupt.jpg"}


def new_repo_id(name: str) -> str:
    return f"org/{name}-{uuid.uuid4().hex[:8]}"


def both_classes(count: int, seed: int) -> list[str]:
    """`count` labels in a seeded random order, half of them fake (one more when `count` is odd)."""
    labels = ["fake"] * (count - count // 2) + ["real"] * (count // 2)
    return [str(label) for label in np.random.default_rng(seed).permutation(labels)]


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def model():
    return make_model(seed=0)


@pytest.fixture(scope="module")
def model_dir(model, tmp_path_factory) -> Path:
    return save_model(model, tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def detector(model_dir):
    return load_pipeline(model_dir)


@pytest.fixture(scope="module")
def model_repo(_local_hub_server, model_dir) -> str:
    repo_id = new_repo_id("detector")
    push_folder(model_dir, repo_id)
    return repo_id


def expected_scores(model, crops: list[Image.Image]) -> np.ndarray:
    """The classifier's scores computed directly, without the evaluation code."""
    return model.scores(DeepfakeDetectorImageProcessor()(crops)["pixel_values"]).numpy()


# -- independent recomputation of metrics.json from predictions.csv ---------------------------------------


def rates(y_fake: np.ndarray, predicted_fake: np.ndarray) -> tuple[float, float]:
    """(false positive rate, false negative rate) with fake as the positive class, by counting."""
    fp = np.sum(predicted_fake & ~y_fake)
    fn = np.sum(~predicted_fake & y_fake)
    return fp / np.sum(~y_fake), fn / np.sum(y_fake)


def predicted_fake_at(config: DeepfakeDetectorConfig, scores: np.ndarray, threshold: float) -> np.ndarray:
    return np.array([config.label_for(score, threshold) == "fake" for score in scores])


def check_metrics(metrics: dict, rows: list[dict], config: DeepfakeDetectorConfig) -> None:
    """Recompute every metric from the CSV: counts and rates by hand, AUC by pair counting, AP with sklearn."""
    scored = [row for row in rows if row["status"] == "ok"]
    y = np.array([row["label"] == "fake" for row in scored])
    predicted = np.array([row["predicted_label"] == "fake" for row in scored])
    fake_scores = np.array([float(row["fake_score"]) for row in scored])
    scores = np.array([float(row["score"]) for row in scored])

    assert metrics["n"] == len(rows)
    assert metrics["n_scored"] == len(scored)
    assert metrics["n_unreadable"] == sum(row["status"] == "unreadable" for row in rows)
    assert metrics["n_no_face"] == sum(row["status"] == "no_face" for row in rows)
    assert metrics["class_counts"] == {label: sum(row["label"] == label for row in rows) for label in ("real", "fake")}
    assert "excluded" in metrics and "predictions.csv" in metrics["excluded"]
    for row, score in zip(scored, scores):  # the verdict honours the config's threshold and score label
        assert row["predicted_label"] == config.label_for(score)
        assert float(row["fake_score"]) == pytest.approx(config.probabilities(score)["fake"], abs=1e-6)

    tp, fp = np.sum(predicted & y), np.sum(predicted & ~y)
    fn, tn = np.sum(~predicted & y), np.sum(~predicted & ~y)
    assert metrics["confusion_matrix"]["matrix"] == [[tn, fp], [fn, tp]]
    assert metrics["accuracy"] == pytest.approx((tp + tn) / len(y))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn)
    assert metrics["precision"] == pytest.approx(precision)
    assert metrics["recall"] == pytest.approx(recall)
    assert metrics["f1"] == pytest.approx(2 * precision * recall / (precision + recall) if precision + recall else 0)

    pairs = [(f > r) + 0.5 * (f == r) for f in fake_scores[y] for r in fake_scores[~y]]
    assert metrics["roc_auc"] == pytest.approx(np.mean(pairs))
    assert metrics["average_precision"] == pytest.approx(average_precision_score(y, fake_scores))

    unique = np.unique(scores)
    candidates = np.concatenate([[unique[0] / 2], (unique[:-1] + unique[1:]) / 2, [(unique[-1] + 1) / 2]])
    points = [rates(y, predicted_fake_at(config, scores, t)) for t in candidates]
    balanced = [1 - (fpr + fnr) / 2 for fpr, fnr in points]
    assert metrics["best_balanced_accuracy"] == pytest.approx(max(balanced))
    fpr, fnr = rates(y, predicted_fake_at(config, scores, metrics["best_balanced_accuracy_threshold"]))
    assert 1 - (fpr + fnr) / 2 == pytest.approx(max(balanced))  # the reported threshold achieves it
    gap = min(abs(fpr - fnr) for fpr, fnr in points)
    fpr, fnr = rates(y, predicted_fake_at(config, scores, metrics["eer_threshold"]))
    assert abs(fpr - fnr) == pytest.approx(gap)
    assert metrics["eer"] == pytest.approx((fpr + fnr) / 2)


# -- tests ----------------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::deepfake_detection.errors.PolarityWarning")  # random model: either way
def test_hub_dataset_metrics_match_independent_computation(local_hub, model, model_repo, tmp_path: Path) -> None:
    crops = face_crops(12, seed=1)
    labels = both_classes(12, seed=2)
    dataset_id = new_repo_id("crops")
    table = datasets.Dataset.from_dict(
        {"image": [*crops, CORRUPT], "label": [FEATURES["label"].str2int(label) for label in [*labels, "fake"]]},
        features=FEATURES,
    )
    table.push_to_hub(dataset_id, split="test")

    result = evaluate(model_repo, dataset_id, faces="crops", batch_size=5, output_dir=tmp_path / "out", progress=False)

    rows = read_csv(tmp_path / "out" / "predictions.csv")
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(result.metrics))
    assert [row["index"] for row in rows] == [str(i) for i in range(13)]
    assert [row["label"] for row in rows] == [*labels, "fake"]
    assert rows[-1]["status"] == "unreadable" and "not a readable image" in rows[-1]["error"]
    assert rows[-1]["fake_score"] == "" and rows[-1]["predicted_label"] == ""
    assert all(row["status"] == "ok" and row["num_faces"] == "1" for row in rows[:-1])
    direct = expected_scores(model, crops[:4])  # a few are enough to tie the CSV to the model's own scores
    np.testing.assert_allclose([float(row["score"]) for row in rows[:4]], direct, atol=1e-5)

    check_metrics(metrics, rows, model.config)
    assert metrics["n"] == 13 and metrics["n_unreadable"] == 1 and metrics["n_scored"] == 12
    api = HfApi()
    assert metrics["model"]["id"] == model_repo
    assert metrics["model"]["revision"] == api.model_info(model_repo).sha
    assert metrics["dataset"]["id"] == dataset_id
    assert metrics["dataset"]["revision"] == api.dataset_info(dataset_id).sha
    assert metrics["dataset"]["split"] == "test"
    assert metrics["faces"] == "crops" and metrics["positive_label"] == "fake"

    # The seed's mistake: a ROC built from 0/1 predictions. Here its AUC differs from the score AUC reported.
    y = [row["label"] == "fake" for row in rows[:-1]]
    hard_auc = roc_auc_score(y, [row["predicted_label"] == "fake" for row in rows[:-1]])
    score_auc = roc_auc_score(y, [float(row["fake_score"]) for row in rows[:-1]])
    assert hard_auc != pytest.approx(score_auc, abs=1e-3)
    assert metrics["roc_auc"] == pytest.approx(score_auc)

    for name in ("confusion_matrix", "roc_curve", "score_histogram"):
        with Image.open(tmp_path / "out" / f"{name}.png") as plot:
            assert plot.format == "PNG" and min(plot.size) > 100
    assert local_hub.unhandled == []


@pytest.mark.parametrize("score_label", ["fake", "real"])
def test_hand_computed_metrics(score_label: str) -> None:
    config = DeepfakeDetectorConfig(threshold=0.5, score_label=score_label)
    fake_probabilities = {"fake": [0.9, 0.8, 0.4], "real": [0.6, 0.3, 0.2, 0.1]}
    rows = []
    for label, values in fake_probabilities.items():
        for fake_probability in values:
            score = fake_probability if score_label == "fake" else 1 - fake_probability
            rows.append(Prediction(index=len(rows), path="", label=label, fake_score=fake_probability, score=score,
                                   predicted_label=config.label_for(score), num_faces=1))
    rows.append(Prediction(index=len(rows), path="", label="real", status="no_face", num_faces=0))

    metrics = compute_metrics(rows, config)

    # TP 2 (0.9, 0.8), FN 1 (0.4), FP 1 (0.6), TN 3; 11 of 12 (fake, real) pairs ranked right.
    assert metrics["confusion_matrix"]["matrix"] == [[3, 1], [1, 2]]
    assert metrics["accuracy"] == pytest.approx(5 / 7)
    assert metrics["precision"] == metrics["recall"] == metrics["f1"] == pytest.approx(2 / 3)
    assert metrics["roc_auc"] == pytest.approx(11 / 12)
    assert metrics["average_precision"] == pytest.approx((1 + 1 + 3 / 4) / 3)
    # Closest FPR/FNR: fake when P(fake) >= 0.6, FPR 1/4, FNR 1/3.
    assert metrics["eer"] == pytest.approx((1 / 4 + 1 / 3) / 2)
    # Best balanced accuracy: fake when P(fake) >= 0.4: TPR 1, TNR 3/4; on the model's own score scale.
    assert metrics["best_balanced_accuracy"] == pytest.approx(7 / 8)
    assert metrics["best_balanced_accuracy_threshold"] == pytest.approx(0.35 if score_label == "fake" else 0.65)
    assert metrics["eer_threshold"] == pytest.approx(0.5)
    assert (metrics["n"], metrics["n_scored"], metrics["n_no_face"]) == (8, 7, 1)
    assert metrics["class_counts"] == {"real": 5, "fake": 3}
    assert metrics["scored_class_counts"] == {"real": 4, "fake": 3}
    assert metrics["warnings"] == []


def test_inverted_polarity_warns() -> None:
    config = DeepfakeDetectorConfig(score_label="fake")
    rows = [
        Prediction(index=index, path="", label=label, fake_score=p, score=p, predicted_label=config.label_for(p))
        for index, (label, p) in enumerate([("fake", 0.1), ("fake", 0.3), ("real", 0.8), ("real", 0.9), ("real", 0.2)])
    ]
    with pytest.warns(PolarityWarning, match="polarity"):
        metrics = compute_metrics(rows, config)
    assert metrics["roc_auc"] == pytest.approx(1 / 6)
    assert any("score_label" in message for message in metrics["warnings"])


@pytest.mark.parametrize(
    "names, encode",
    [
        (["real", "fake"], "classlabel"),  # the reverse of the model's id2label order
        (["REAL", "Fake"], "strings"),
    ],
)
@pytest.mark.filterwarnings("ignore::deepfake_detection.errors.PolarityWarning")
def test_labels_map_by_name_not_index(model, detector, names, encode, tmp_path: Path) -> None:
    crops = face_crops(6, seed=3)
    truth = both_classes(6, seed=4)
    by_truth = {name.lower(): name for name in names}
    if encode == "classlabel":
        feature = datasets.ClassLabel(names=names)
        table = datasets.Dataset.from_dict(
            {"image": crops, "label": [names.index(by_truth[label]) for label in truth]},
            features=datasets.Features({"image": datasets.Image(), "label": feature}),
        )
    else:
        table = datasets.Dataset.from_dict({"image": crops, "label": [by_truth[label] for label in truth]})

    result = evaluate(detector, table, faces="crops", output_dir=tmp_path, progress=False)

    rows = read_csv(tmp_path / "predictions.csv")
    assert [row["label"] for row in rows] == truth
    assert result.metrics["class_counts"] == {"real": truth.count("real"), "fake": truth.count("fake")}
    check_metrics(result.metrics, rows, model.config)


def test_label_names_that_are_not_the_models_are_refused(detector, tmp_path: Path) -> None:
    table = datasets.Dataset.from_dict(
        {"image": face_crops(2, seed=5), "label": [0, 1]},
        features=datasets.Features(
            {"image": datasets.Image(), "label": datasets.ClassLabel(names=["pristine", "fake"])}
        ),
    )
    with pytest.raises(EvaluationError, match=r"\['fake', 'pristine'\].*\['pristine'\] unknown"):
        evaluate(detector, table, faces="crops", output_dir=tmp_path, progress=False)


def test_missing_label_column_names_the_columns(model_dir, tmp_path: Path, capsys) -> None:
    table = datasets.Dataset.from_dict({"picture": face_crops(1, seed=6), "target": ["fake"]})
    with pytest.raises(EvaluationError, match=r"no label column 'label'; its columns are \['picture', 'target'\]"):
        evaluate(model_dir, table, faces="crops", output_dir=tmp_path, progress=False)

    unlabelled = tmp_path / "unlabelled"  # an imagefolder without class folders: only an `image` column
    unlabelled.mkdir()
    astronaut().save(unlabelled / "photo.png")
    code = main(["evaluate", "--model", str(model_dir), "--dataset", str(unlabelled), "--output-dir", str(tmp_path)])
    assert code == 2
    assert "its columns are ['image']" in capsys.readouterr().err


def test_detect_mode_reports_no_face_and_unreadable_images(detector, model_dir, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "frames"
    (folder / "test" / "real").mkdir(parents=True)
    (folder / "test" / "fake").mkdir(parents=True)
    photo = astronaut()
    photo.save(folder / "test" / "real" / "astronaut.png")
    photo.transpose(Image.FLIP_LEFT_RIGHT).save(folder / "test" / "fake" / "mirrored.png")
    Image.new("RGB", (320, 240), (128, 128, 128)).save(folder / "test" / "real" / "blank.png")
    (folder / "test" / "fake" / "corrupt.jpg").write_bytes(b"\xff\xd8 truncated")
    out = tmp_path / "out"

    code = main(["evaluate", "--model", str(model_dir), "--dataset", str(folder), "--output-dir", str(out),
                 "--batch-size", "3"])

    assert code == 0
    rows = {Path(row["path"]).name: row for row in read_csv(out / "predictions.csv")}
    assert set(rows) == {"astronaut.png", "mirrored.png", "blank.png", "corrupt.jpg"}
    assert (rows["blank.png"]["status"], rows["blank.png"]["error"]) == ("no_face", NO_FACE_MESSAGE)
    assert rows["blank.png"]["num_faces"] == "0"
    assert rows["corrupt.jpg"]["status"] == "unreadable" and "corrupt.jpg" in rows["corrupt.jpg"]["error"]
    for name, image in (("astronaut.png", photo), ("mirrored.png", photo.transpose(Image.FLIP_LEFT_RIGHT))):
        direct = detector(image)
        assert rows[name]["status"] == "ok"
        assert int(rows[name]["num_faces"]) == direct["num_faces"] >= 1
        assert float(rows[name]["fake_score"]) == pytest.approx(direct["fake_probability"], abs=1e-5)
        assert rows[name]["predicted_label"] == direct["label"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["n"], metrics["n_scored"], metrics["n_no_face"], metrics["n_unreadable"]) == (4, 2, 1, 1)
    assert metrics["dataset"]["split"] == "test" and metrics["model"]["id"] == str(model_dir.resolve())
    assert metrics["faces"] == "detect"
    stdout = capsys.readouterr().out
    assert "1 without a face, 0 with faces too small to judge, 1 unreadable" in stdout and "predictions.csv" in stdout


def test_images_whose_every_face_is_too_small_are_listed_and_counted_not_scored(tmp_path: Path, capsys) -> None:
    model_dir = save_model(make_model(min_judged_face=48, min_face_size=20), tmp_path / "model")
    folder = tmp_path / "faces" / "test"
    for name, image in (("real/large.png", faces_image([180, 60])), ("fake/large.png", faces_image([170])),
                        ("fake/tiny.png", faces_image([60, 60])), ("real/blank.png", faces_image([]))):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        image.save(folder / name)
    out = tmp_path / "out"
    assert main(["evaluate", "--model", str(model_dir), "--dataset", str(folder.parent), "--output-dir", str(out)]) == 0
    rows = {"/".join(Path(row["path"]).parts[-2:]): row for row in read_csv(out / "predictions.csv")}
    assert rows["fake/tiny.png"]["status"] == "too_small" and rows["fake/tiny.png"]["num_faces"] == "0"
    assert "too small to judge (under 48 px wide)" in rows["fake/tiny.png"]["error"]
    assert rows["real/blank.png"]["status"] == "no_face"
    assert rows["real/large.png"]["status"] == "ok" and rows["real/large.png"]["num_faces"] == "1"
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["n"], metrics["n_scored"], metrics["n_no_face"], metrics["n_too_small"]) == (4, 2, 1, 1)
    assert "too_small" in metrics["excluded"]
    assert "1 with faces too small to judge" in capsys.readouterr().out


def test_limit_takes_a_seeded_sample(detector, tmp_path: Path) -> None:
    table = datasets.Dataset.from_dict(
        {"image": face_crops(8, seed=7), "label": both_classes(8, seed=8)}
    )
    first = evaluate(detector, table, faces="crops", limit=4, output_dir=tmp_path / "a", progress=False)
    indices = [row.index for row in first.rows]
    assert len(indices) == 4 and indices == sorted(indices) and set(indices) <= set(range(8))
    assert first.metrics["dataset"]["rows_in_split"] == 8 and first.metrics["n"] == 4
    labels = table["label"]
    assert [row.label for row in first.rows] == [labels[i] for i in indices]


def test_a_detection_size_with_a_loaded_pipeline_is_refused_not_ignored(detector, tmp_path: Path) -> None:
    table = datasets.Dataset.from_dict({"image": face_crops(2, seed=3), "label": both_classes(2, seed=4)})
    with pytest.raises(ValueError, match=r"load_pipeline\(model, detection_max_side=...\)"):
        evaluate(detector, table, output_dir=tmp_path, progress=False, detection_max_side=640)


@pytest.mark.filterwarnings("ignore::deepfake_detection.errors.PolarityWarning")  # random model: either way
def test_push_to_hub_writes_model_index_and_keeps_the_card(local_hub, model_dir, tmp_path: Path) -> None:
    repo_id = new_repo_id("carded")
    push_folder(model_dir, repo_id)
    other = EvalResult(task_type="image-classification", dataset_type="org/other", dataset_name="Other",
                       dataset_split="test", metric_type="accuracy", metric_value=0.5)
    data = ModelCardData(license="mit", tags=["deepfake-detection"], model_name="carded", eval_results=[other])
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n# Carded\n\nHand-written text that must survive.\n")
    card.push_to_hub(repo_id)
    dataset_id = new_repo_id("pushed-crops")
    datasets.Dataset.from_dict(
        {"image": face_crops(6, seed=9), "label": [FEATURES["label"].str2int(x) for x in both_classes(6, seed=10)]},
        features=FEATURES,
    ).push_to_hub(dataset_id, split="validation")

    result = evaluate(repo_id, dataset_id, faces="crops", output_dir=tmp_path, push_to_hub=True, progress=False)

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    loaded = ModelCard.load(repo_id)
    assert "Hand-written text that must survive." in loaded.text
    assert loaded.data.license == "mit" and loaded.data.tags == ["deepfake-detection"]
    ours = [r for r in loaded.data.eval_results if r.dataset_type == dataset_id]
    theirs = [r for r in loaded.data.eval_results if r.dataset_type == "org/other"]
    assert [(r.metric_type, r.metric_value) for r in theirs] == [("accuracy", 0.5)]
    assert {r.metric_type: r.metric_value for r in ours} == {key: metrics[key] for key in METRIC_NAMES}
    assert {(r.dataset_split, r.dataset_revision, r.task_type) for r in ours} == {
        ("validation", metrics["dataset"]["revision"], "image-classification")
    }
    folder = results_folder(metrics)
    assert folder.startswith("eval/")
    remote = {path for path in HfApi().list_repo_files(repo_id) if path.startswith(folder)}
    written = ("predictions.csv", "metrics.json", "confusion_matrix.png", "roc_curve.png", "score_histogram.png",
               "reliability_diagram.png")
    assert remote == {f"{folder}/{name}" for name in written}
    assert json.loads(Path(hf_hub_download(repo_id, f"{folder}/metrics.json")).read_text()) == metrics

    push_results(result.files, result.metrics, repo_id)  # evaluating the same split again replaces, never duplicates
    again = ModelCard.load(repo_id).data.eval_results
    assert len([r for r in again if r.dataset_type == dataset_id]) == len(METRIC_NAMES)
    assert len(again) == len(METRIC_NAMES) + 1
    assert local_hub.unhandled == []


def test_an_output_dir_that_cannot_be_written_is_refused_before_any_work(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("a file where the results should go")
    with pytest.raises(EvaluationError, match=r"Cannot write the results to .*taken.*--output-dir"):
        evaluate(str(tmp_path / "no-model-here"), "no-dataset-either", output_dir=taken / "evaluation")


@pytest.mark.filterwarnings("ignore::deepfake_detection.errors.PolarityWarning")  # random model: either way
def test_a_failed_push_names_the_repo_and_keeps_the_written_results(local_hub, model_dir, tmp_path: Path) -> None:
    table = datasets.Dataset.from_dict({"image": face_crops(4, seed=5), "label": both_classes(4, seed=6)})
    missing = new_repo_id("never-created")
    with pytest.raises(EvaluationError) as raised:
        evaluate(model_dir, table, faces="crops", output_dir=tmp_path, push_to_hub=missing, progress=False)
    assert f"could not push the results to {missing}" in str(raised.value)
    assert f"The results are written in {tmp_path}." in str(raised.value)
    assert json.loads((tmp_path / "metrics.json").read_text())["n"] == 4


def test_push_to_hub_needs_a_hub_model(model_dir, tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match="--push-to-hub org/name"):
        evaluate(model_dir, "unused", push_to_hub=True, output_dir=tmp_path)


@pytest.mark.filterwarnings("ignore::deepfake_detection.errors.PolarityWarning")
def test_split_folders_of_prefix_labelled_files_evaluate_like_push_dataset_reads_them(model_dir, tmp_path):
    for split in ("test", "validation"):
        (tmp_path / split).mkdir()
        for index, crop in enumerate(face_crops(2, seed=7)):
            crop.save(tmp_path / split / f"{['fake', 'real'][index]}_{index}.png")
    result = evaluate(str(model_dir), str(tmp_path), split="validation", faces="crops", output_dir=tmp_path / "out",
                      progress=False)
    assert result.metrics["dataset"]["split"] == "validation"
    assert sorted(row.label for row in result.rows) == ["fake", "real"]


@pytest.mark.filterwarnings("ignore::deepfake_detection.errors.PolarityWarning")  # random model: either way
def test_two_processes_under_accelerate_give_the_predictions_and_metrics_of_one(model_dir, tmp_path):
    """`accelerate launch` with 2 CPU processes: each scores its shard, the main one gathers and writes."""
    import subprocess
    import sys

    folder = tmp_path / "data"
    folder.mkdir()
    for index, crop in enumerate(face_crops(5, seed=3)):
        crop.save(folder / f"{'fake' if index % 2 else 'real'}_{index}.png")
    Image.new("RGB", (200, 160), (90, 90, 90)).save(folder / "real_blank.png")  # no face
    (folder / "fake_corrupt.jpg").write_bytes(b"not an image")  # a row too: unreadable, on whichever process
    single = evaluate(model_dir, folder, output_dir=tmp_path / "one", progress=False)
    command = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "-m", "deepfake_detection.cli", "evaluate", "--model", str(model_dir), "--dataset", str(folder),
               "--output-dir", str(tmp_path / "two")]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    one_rows, two_rows = read_csv(tmp_path / "one" / "predictions.csv"), read_csv(tmp_path / "two" / "predictions.csv")
    assert len(two_rows) == len(one_rows) == 7  # the corrupt file is a row too: unreadable
    for one, two in zip(one_rows, two_rows):
        assert {k: v for k, v in one.items() if "score" not in k} == {k: v for k, v in two.items() if "score" not in k}
        for key in ("score", "fake_score"):
            assert (one[key] == two[key] == "") or float(one[key]) == pytest.approx(float(two[key]), abs=1e-5)
    two_metrics = json.loads((tmp_path / "two" / "metrics.json").read_text())
    for key in ("n", "n_scored", "n_no_face", "class_counts", "confusion_matrix", "accuracy"):
        assert two_metrics[key] == single.metrics[key]
    assert two_metrics["roc_auc"] == pytest.approx(single.metrics["roc_auc"], abs=1e-6)


@pytest.mark.filterwarnings("ignore::deepfake_detection.errors.PolarityWarning")  # random model: either way
def test_without_split_the_validation_folder_is_evaluated_and_a_lone_train_split_is_named(model_dir, tmp_path,
                                                                                          capsys):
    for split, seed in (("train", 1), ("val", 2)):
        (tmp_path / "data" / split).mkdir(parents=True)
        for label, crop in zip(("fake", "real"), face_crops(2, seed=seed)):
            crop.save(tmp_path / "data" / split / f"{label}_{split}.png")
    result = evaluate(str(model_dir), str(tmp_path / "data"), faces="crops", output_dir=tmp_path / "out",
                      progress=False)
    assert result.metrics["dataset"]["split"] == "validation"
    assert sorted(Path(row.path).name for row in result.rows) == ["fake_val.png", "real_val.png"]
    assert not any("training split" in message for message in result.metrics["warnings"])

    (tmp_path / "data" / "val").rename(tmp_path / "elsewhere")
    code = main(["evaluate", "--model", str(model_dir), "--dataset", str(tmp_path / "data"), "--faces", "crops",
                 "--output-dir", str(tmp_path / "again")])
    assert code == 0
    assert "warning: The dataset has only a training split ('train')" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert metrics["dataset"]["split"] == "train" and "only a training split" in metrics["warnings"][0]


@pytest.mark.filterwarnings("ignore::deepfake_detection.errors.PolarityWarning")  # random model: either way
def test_videos_among_images_and_files_missing_from_metadata_are_listed_and_the_rest_is_scored(model_dir, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    crops = face_crops(3, seed=4)
    crops[0].save(folder / "real_a.png")
    crops[1].save(folder / "fake_b.png")
    crops[2].save(folder / "c.png")  # labelled by metadata.csv only
    (folder / "fake_clip.mp4").write_bytes(b"a video among images")
    (folder / "metadata.csv").write_text("file_name,label\nc.png,fake\nlost.png,real\n")
    result = evaluate(str(model_dir), str(folder), faces="crops", output_dir=tmp_path / "out", progress=False)
    assert sorted(Path(row.path).name for row in result.rows) == ["c.png", "fake_b.png", "real_a.png"]
    assert result.metrics["n_scored"] == 3
    skipped = {Path(item["path"]).name: item["reason"] for item in result.metrics["dataset"]["skipped"]}
    assert set(skipped) == {"fake_clip.mp4", "lost.png"}
    assert "a video in a folder of images" in skipped["fake_clip.mp4"]
    assert "listed in metadata.csv but not found" in skipped["lost.png"]
    assert "2 file(s) of the dataset folder were left out" in result.metrics["warnings"][0]
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert written["dataset"]["skipped"] == result.metrics["dataset"]["skipped"]
