"""Labelled image folders become `datasets` datasets with a card, on the (local) Hub."""

from __future__ import annotations

import runpy
import sys
import uuid
from collections import Counter
from pathlib import Path

import datasets
import pytest
from huggingface_hub import DatasetCard
from PIL import Image

from deepfake_detection import DeepfakeDetectorConfig
from deepfake_detection.dataset import DatasetFolderError, build_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data not found at {SHARED}")


def new_repo_id(name: str) -> str:
    return f"org/{name}-{uuid.uuid4().hex[:8]}"


def write_image(path: Path, color: tuple[int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 10), color).save(path)
    return path


def labels_by_file(table: datasets.Dataset) -> dict[str, str]:
    """File name -> label name, read back from the dataset itself."""
    names = table.features["label"].names
    undecoded = table.cast_column("image", datasets.Image(decode=False))
    return {Path(row["image"]["path"]).name: names[row["label"]] for row in undecoded}


def run_script(script: str, *args: str) -> None:
    """Run one of the project's scripts in this process, as its command line would."""
    argv = sys.argv
    sys.argv = [script, *args]
    try:
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path(str(REPO_ROOT / "scripts" / script), run_name="__main__")
    finally:
        sys.argv = argv
    assert exit_info.value.code == 0


@pytest.fixture
def prefix_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "examples"
    write_image(folder / "real_a.png", (200, 10, 10))
    write_image(folder / "fake_b.jpg", (10, 200, 10))
    write_image(folder / "Fake-c.png", (10, 10, 200))
    write_image(folder / "holiday.png", (90, 90, 90))  # no prefix: left out
    (folder / "fake_broken.jpg").write_bytes(b"this is not a JPEG")  # unreadable: left out
    (folder / "notes.txt").write_text("not an image")  # not an image suffix: ignored
    return folder


def test_filename_prefix_folder(prefix_folder: Path) -> None:
    built = build_dataset(prefix_folder)
    assert list(built.dataset) == ["test"]
    table = built.dataset["test"]
    assert table.features["label"] == datasets.ClassLabel(names=["fake", "real"])
    config = DeepfakeDetectorConfig()
    assert table.features["label"].names == [config.id2label[i] for i in range(len(config.id2label))]
    assert labels_by_file(table) == {"real_a.png": "real", "fake_b.jpg": "fake", "Fake-c.png": "fake"}
    assert built.counts() == {"test": {"fake": 2, "real": 1}}
    skipped = {Path(path).name: reason for path, reason in built.skipped}
    assert set(skipped) == {"holiday.png", "fake_broken.jpg"}
    assert "prefix" in skipped["holiday.png"] and "not a readable image" in skipped["fake_broken.jpg"]
    assert table[0]["image"].size == (12, 10)


def test_split_and_class_folders(tmp_path: Path) -> None:
    write_image(tmp_path / "train" / "real" / "r1.png", (1, 2, 3))
    write_image(tmp_path / "train" / "fake" / "f1.png", (4, 5, 6))
    write_image(tmp_path / "train" / "fake" / "nested" / "f2.png", (7, 8, 9))
    write_image(tmp_path / "validation" / "REAL" / "r2.png", (1, 1, 1))
    write_image(tmp_path / "validation" / "fake" / "f3.png", (2, 2, 2))
    write_image(tmp_path / "scratch" / "real" / "ignored.png", (3, 3, 3))  # not a split folder
    built = build_dataset(tmp_path, split="ignored-when-split-folders-exist")
    assert list(built.dataset) == ["train", "validation"]
    assert labels_by_file(built.dataset["train"]) == {"r1.png": "real", "f1.png": "fake", "f2.png": "fake"}
    assert labels_by_file(built.dataset["validation"]) == {"r2.png": "real", "f3.png": "fake"}
    assert built.counts() == {"train": {"fake": 2, "real": 1}, "validation": {"fake": 1, "real": 1}}


def test_unlabelled_or_missing_folder_is_refused(tmp_path: Path) -> None:
    write_image(tmp_path / "photo.png", (0, 0, 0))
    with pytest.raises(DatasetFolderError, match="real_\\*.jpg / fake_\\*.jpg"):
        build_dataset(tmp_path)
    with pytest.raises(DatasetFolderError, match="no such folder"):
        build_dataset(tmp_path / "missing")


def test_push_dataset_script_round_trip(local_hub, prefix_folder: Path, tmp_path: Path) -> None:
    repo_id = new_repo_id("examples")
    run_script(
        "push_dataset.py", str(prefix_folder), "--repo-id", repo_id, "--source", "Synthetic squares",
        "--license-note", "Made up for the tests.",
    )
    loaded = datasets.load_dataset(repo_id, split="test", cache_dir=str(tmp_path / "cache"))
    assert loaded.features["label"].names == ["fake", "real"]
    assert labels_by_file(loaded) == {"real_a.png": "real", "fake_b.jpg": "fake", "Fake-c.png": "fake"}
    originals = {name: Image.open(prefix_folder / name).convert("RGB").tobytes() for name in labels_by_file(loaded)}
    undecoded = loaded.cast_column("image", datasets.Image(decode=False))
    for row, image in zip(undecoded, loaded["image"]):
        assert image.convert("RGB").tobytes() == originals[Path(row["image"]["path"]).name]

    card = DatasetCard.load(repo_id, repo_type="dataset")
    assert card.data.license == "other"
    assert card.data.configs and card.data.dataset_info  # what push_to_hub wrote is kept
    assert "| test | 2 | 1 | 3 |" in card.text
    assert "Synthetic squares" in card.text and "Made up for the tests." in card.text
    assert 'ClassLabel(names=["fake", "real"])' in card.text
    assert local_hub.unhandled == []


@needs_shared
def test_ffpp_examples_on_the_hub(local_hub, tmp_path: Path) -> None:
    source = SHARED / "ffpp-examples"
    expected = Counter(path.name.split("_")[0].lower() for path in source.iterdir())
    repo_id = new_repo_id("ffpp-examples")
    run_script("push_dataset.py", str(source), "--repo-id", repo_id, "--private")
    loaded = datasets.load_dataset(repo_id, split="test", cache_dir=str(tmp_path / "cache"))
    names = loaded.features["label"].names
    assert len(loaded) == 31
    assert Counter(names[label] for label in loaded["label"]) == expected
    assert labels_by_file(loaded) == {path.name: path.name.split("_")[0] for path in source.iterdir()}
    assert local_hub.unhandled == []


@needs_shared
def test_dfdc_faces_on_the_hub(local_hub, tmp_path: Path) -> None:
    source = SHARED / "dfdc-faces"
    expected = {
        split: Counter({label: len(list((source / split / label).glob("*.jpg"))) for label in ("fake", "real")})
        for split in ("train", "validation")
    }
    repo_id = new_repo_id("dfdc-faces")
    run_script("push_dataset.py", str(source), "--repo-id", repo_id, "--private")
    loaded = datasets.load_dataset(repo_id, cache_dir=str(tmp_path / "cache"))
    assert set(loaded) == {"train", "validation"}
    for split, table in loaded.items():
        names = table.features["label"].names
        counts = Counter(names[label] for label in table["label"])
        assert counts == expected[split] and min(counts.values()) > 0
    fake, real = expected["validation"]["fake"], expected["validation"]["real"]
    assert f"| validation | {fake} | {real} | {fake + real} |" in DatasetCard.load(repo_id, repo_type="dataset").text
    assert local_hub.unhandled == []


def test_split_folders_are_named_in_any_case_and_two_for_one_split_are_refused_not_merged(tmp_path: Path) -> None:
    write_image(tmp_path / "Train" / "real" / "r1.png", (1, 2, 3))
    write_image(tmp_path / "Train" / "fake" / "f1.png", (4, 5, 6))
    write_image(tmp_path / "Validation" / "real_r2.png", (1, 1, 1))
    write_image(tmp_path / "Validation" / "fake_f2.jfif", (2, 2, 2))  # .jfif is a JPEG: read, not skipped
    built = build_dataset(tmp_path)
    assert list(built.dataset) == ["train", "validation"]
    assert labels_by_file(built.dataset["train"]) == {"r1.png": "real", "f1.png": "fake"}
    assert labels_by_file(built.dataset["validation"]) == {"real_r2.png": "real", "fake_f2.jfif": "fake"}
    assert "Train/ as train" in built.layout and built.skipped == []
    write_image(tmp_path / "val" / "real_r3.png", (3, 3, 3))
    with pytest.raises(DatasetFolderError, match="Validation/ and val/ both hold the validation split"):
        build_dataset(tmp_path)


def test_files_in_no_split_and_videos_among_images_are_named_with_their_reason(tmp_path: Path) -> None:
    write_image(tmp_path / "test" / "real_a.png", (1, 2, 3))
    write_image(tmp_path / "test" / "fake_b.png", (4, 5, 6))
    (tmp_path / "test" / "fake_clip.mp4").write_bytes(b"a video among images")
    write_image(tmp_path / "loose" / "real_c.png", (7, 8, 9))  # not under a split folder
    built = build_dataset(tmp_path)
    assert built.counts() == {"test": {"fake": 1, "real": 1}}
    reasons = {Path(path).name: reason for path, reason in built.skipped}
    assert set(reasons) == {"fake_clip.mp4", "real_c.png"}
    assert "a video in a folder of images" in reasons["fake_clip.mp4"]
    assert "outside the split folders (test/)" in reasons["real_c.png"]
    assert [Path(path).name for path, _ in built.skipped_for("test")] == ["fake_clip.mp4", "real_c.png"]


def test_metadata_labels_its_files_and_files_it_lists_but_the_folder_lacks_are_named(tmp_path: Path) -> None:
    write_image(tmp_path / "photo1.png", (1, 2, 3))
    write_image(tmp_path / "photo2.png", (4, 5, 6))
    write_image(tmp_path / "photo3.png", (7, 8, 9))  # neither named, nor listed: named as unlabelled
    (tmp_path / "metadata.csv").write_text("file_name,label\nphoto1.png,real\nphoto2.png,FAKE\ngone.png,fake\n")
    built = build_dataset(tmp_path)
    assert labels_by_file(built.dataset["test"]) == {"photo1.png": "real", "photo2.png": "fake"}
    reasons = {Path(path).name: reason for path, reason in built.skipped}
    assert set(reasons) == {"gone.png", "photo3.png"}
    assert "listed in metadata.csv but not found" in reasons["gone.png"]
    assert "nor labelled in metadata.csv" in reasons["photo3.png"]
    assert "metadata.csv" in built.layout


def test_a_metadata_file_listing_only_missing_files_is_an_error_not_a_run_that_scores_nothing(tmp_path: Path) -> None:
    from deepfake_detection.dataset import load_split

    write_image(tmp_path / "photo1.png", (1, 2, 3))  # on disk, but not what metadata.csv lists
    (tmp_path / "metadata.csv").write_text("file_name,label\nrenamed1.png,real\nrenamed2.png,fake\n")
    with pytest.raises(DatasetFolderError, match=r"metadata.csv lists 2 file\(s\) the folder lacks, e.g. .*renamed1"):
        load_split(str(tmp_path))  # once datasets' imagefolder: two unreadable rows, photo1.png dropped, exit 0


def test_without_split_the_validation_split_is_chosen_and_names_match_by_kind() -> None:
    from deepfake_detection.dataset import choose_split
    from deepfake_detection.errors import EvaluationError

    assert choose_split(["train", "val", "test"], None, "d") == "val"
    assert choose_split(["train", "test"], None, "d") == "test"
    assert choose_split(["train"], None, "d") == "train"
    assert choose_split(["train", "Valid"], "validation", "d") == "Valid"  # --split validation finds val/Valid
    with pytest.raises(EvaluationError, match=r"several validation splits \['val', 'validation'\]"):
        choose_split(["val", "validation"], None, "d")
    with pytest.raises(EvaluationError, match="has no split 'test'"):
        choose_split(["train", "val"], "test", "d")


def test_loading_a_split_reports_a_lone_training_split_and_the_files_left_out(tmp_path: Path) -> None:
    from deepfake_detection.dataset import load_split

    write_image(tmp_path / "train" / "real_a.png", (1, 2, 3))
    write_image(tmp_path / "train" / "fake_b.png", (4, 5, 6))
    write_image(tmp_path / "train" / "holiday.png", (7, 8, 9))
    table, info = load_split(str(tmp_path))
    assert info["split"] == "train" and len(table) == 2
    assert [Path(item["path"]).name for item in info["skipped"]] == ["holiday.png"]
    assert "only a training split ('train')" in info["warnings"][0]
    assert "1 file(s) of the dataset folder were left out of the 'train' split" in info["warnings"][1]
    _, chosen = load_split(str(tmp_path), split="train")  # asked for: no warning about the split itself
    assert not any("only a training split" in message for message in chosen["warnings"])
