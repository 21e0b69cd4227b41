"""Faces too small to judge: found and reported with their box, never scored, and no part of any verdict."""

import json

import pytest
from model_factory import faces_image, make_model, save_model

from deepfake_detection import FaceDetector, load_pipeline
from deepfake_detection.outputs import NO_FACE_MESSAGE

MIN_JUDGED = 48
"""The test model's judged size: the 88 px face of `faces_image([180])` is judged, the ~29 px one of 60 is not."""


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    """A pipeline judging faces from `MIN_JUDGED` px, MTCNN looking from 20 px so the tiny faces are surely seen."""
    model = make_model(min_judged_face=MIN_JUDGED, min_face_size=20)
    return load_pipeline(save_model(model, tmp_path_factory.mktemp("judged")))


def test_the_verdict_comes_from_the_large_face_and_the_tiny_one_is_reported(detector):
    image = faces_image([180, 60])
    result = detector(image)
    assert result.num_faces == 1 and len(result.faces) == 1 and len(result.too_small) == 1
    (large,), (tiny,) = result.faces, result.too_small
    assert large.box[2] - large.box[0] >= MIN_JUDGED > tiny.width > 15
    assert tiny.box[0] > large.box[2], "the tiny face is the one pasted on the right"
    assert result.label == large.label and result.fake_probability == large.probabilities["fake"]
    assert result.message is None and not result.all_too_small
    as_json = json.loads(json.dumps(result.to_dict()))
    assert as_json["too_small"] == [{"box": tiny.box, "width": tiny.width, "detection_confidence": pytest.approx(
        tiny.detection_confidence)}]
    every = FaceDetector.from_config(detector.model.config, min_judged_face=None, min_face_size=20)
    assert len(every.detect(image)) == 2, "without the rule the tiny face would be scored too"


def test_an_image_whose_every_face_is_too_small_has_no_verdict_and_says_why(detector):
    result = detector(faces_image([60, 60]))
    assert result.label is None and result.fake_probability is None
    assert result.faces == [] and result.num_faces == 0 and len(result.too_small) == 2 and result.all_too_small
    assert result.message != NO_FACE_MESSAGE
    assert result.message.startswith("2 faces were found, but all are too small to judge (under 48 px wide)")
    assert "larger" in result.message
    relabelled = result.relabel(detector.model.config, 0.5)
    assert relabelled.too_small == result.too_small and relabelled.message == result.message


def test_an_image_without_any_face_still_says_no_face(detector):
    from PIL import Image

    result = detector(Image.new("RGB", (320, 240), (90, 90, 90)))
    assert result.message == NO_FACE_MESSAGE and result.too_small == [] and not result.all_too_small


def test_explaining_covers_the_judged_face_only(detector):
    mixed, tiny = detector([faces_image([180, 60]), faces_image([60])], explain=True)
    assert mixed.faces[0].heatmap is not None and mixed.overlay is not None and len(mixed.too_small) == 1
    assert tiny.overlay is None and tiny.all_too_small


def test_a_list_keeps_each_images_faces_and_too_small_faces_apart(detector):
    results = detector([faces_image([60]), faces_image([180]), faces_image([180, 60])], batch_size=3)
    assert [(len(r.faces), len(r.too_small)) for r in results] == [(0, 1), (1, 0), (1, 1)]
    alone = detector(faces_image([180, 60]))
    assert results[2].faces[0].score == pytest.approx(alone.faces[0].score, abs=1e-6)
