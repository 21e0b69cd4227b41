"""The face-size study (scripts/face_size_study.py) at test size: astronaut images, a random model, two widths."""

import json

import pytest
from face_size_study import AS_GIVEN, FULL, main, run_study, shrink_to_width, study_detector, suggest_min_judged_face
from model_factory import astronaut
from PIL import Image


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> list[tuple[str, str]]:
    """Six astronaut images (turned, mirrored, recoloured), labelled real and fake in turn."""
    folder = tmp_path_factory.mktemp("study")
    variants = [astronaut(), astronaut().transpose(Image.FLIP_LEFT_RIGHT), astronaut().rotate(6),
                astronaut().rotate(-6), astronaut().convert("L").convert("RGB"), astronaut().resize((400, 400))]
    paths = []
    for index, image in enumerate(variants):
        path = folder / f"{index}.png"
        image.save(path)
        paths.append((str(path), ("real", "fake")[index % 2]))
    return paths


def test_shrinking_puts_the_face_at_the_width_asked_on_a_canvas_with_context():
    image = Image.new("RGB", (200, 100))
    canvas, box = shrink_to_width(image, (50, 20, 150, 80), 10)
    assert box[2] - box[0] == pytest.approx(10) and canvas.size == (64, 64)  # 20x10 image on the smallest canvas
    assert 0 <= box[0] < box[2] <= canvas.width and 0 <= box[1] < box[3] <= canvas.height
    larger, box = shrink_to_width(image, (50, 20, 150, 80), 200)
    assert larger.size == (400, 400) and box == pytest.approx([100, 140, 300, 260])


def test_the_study_reports_each_width_and_faces_stop_being_found_when_they_get_tiny(model_dir, samples):
    study = run_study(study_detector(model_dir), samples, widths=[6, 64], batch_size=6)
    assert [row["width"] for row in study["table"]] == [AS_GIVEN, FULL, 64, 6]
    rows = {row["width"]: row for row in study["table"]}
    assert study["n_images"] == 6 and study["n_without_face_at_full_size"] == 0
    for row in study["table"]:
        assert set(row) == {"width", "n", "faces_found", "faces_found_share", "roc_auc", "real_called_fake",
                            "fakes_caught"}
        assert row["roc_auc"] is None or 0 <= row["roc_auc"] <= 1
    assert rows[FULL]["faces_found"] == rows[64]["faces_found"] == 6
    assert rows[6]["faces_found"] < rows[64]["faces_found"]  # MTCNN cannot see a 6 px face
    assert 80 < study["full_size_face_width"]["median"] < 95  # the astronaut's face is ~87 px wide


def test_the_suggested_judged_size_is_where_every_larger_width_keeps_the_auc():
    table = [{"width": FULL, "roc_auc": 0.90}, {"width": 128, "roc_auc": 0.91}, {"width": 64, "roc_auc": 0.89},
             {"width": 48, "roc_auc": 0.85}, {"width": 32, "roc_auc": 0.89}]
    assert suggest_min_judged_face(table) == 64  # 32 is close again, but 48 in between is not
    assert suggest_min_judged_face([{"width": FULL, "roc_auc": None}, {"width": 64, "roc_auc": 0.9}]) is None


def test_the_command_writes_the_json_and_the_figure(model_dir, samples, tmp_path, capsys):
    folder = tmp_path / "images"
    for label in ("real", "fake"):
        (folder / label).mkdir(parents=True)
    for index, (path, label) in enumerate(samples[:4]):
        Image.open(path).save(folder / label / f"{index}.jpg")
    output = tmp_path / "out" / "study.json"
    assert main(["--model", str(model_dir), "--dfdc", str(folder), "--widths", "64", "--limit", "3",
                 "--output", str(output)]) == 0
    study = json.loads(output.read_text())
    assert study["n_images"] == 3 and study["limit"] == 3 and [row["width"] for row in study["table"]][-1] == 64
    assert output.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| face width (px) | ROC-AUC |" in capsys.readouterr().out
