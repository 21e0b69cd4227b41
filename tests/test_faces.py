"""Face detection sized to the judged-size rule: MTCNN's pyramid starts where `min_judged_face` needs it, and every
face the rule judges is still found."""

import math

import pytest
from conftest import SHARED_DATA, requires_shared_data
from model_factory import faces_image

from deepfake_detection import DeepfakeDetectorConfig, FaceDetector, load_image
from deepfake_detection.configuration_deepfake_detector import DETECTION_REACH, MIN_JUDGED_FACE
from deepfake_detection.tracking import box_iou

GUARD_FRAMES = ("fake_frame_10.png", "fake_frame_13.png", "real_frame_2.png", "fake_frame_1.png")
"""ffpp frames with faces of many sizes (15 px to 161 px), so faces sit on both sides of each judged size."""


def test_detection_follows_the_judged_size_unless_set():
    config = DeepfakeDetectorConfig()
    assert config.min_judged_face == MIN_JUDGED_FACE and config.min_face_size is None
    assert FaceDetector.from_config(config).mtcnn.min_face_size == math.floor(MIN_JUDGED_FACE * DETECTION_REACH)
    assert FaceDetector.from_config(DeepfakeDetectorConfig(min_judged_face=40)).mtcnn.min_face_size == 32
    assert FaceDetector.from_config(DeepfakeDetectorConfig(min_judged_face=None)).mtcnn.min_face_size == 20
    assert FaceDetector.from_config(DeepfakeDetectorConfig(min_face_size=24)).mtcnn.min_face_size == 24
    assert FaceDetector().min_judged_face is None and FaceDetector().mtcnn.min_face_size == 20
    assert FaceDetector.from_config(config, min_judged_face=None).min_judged_face is None


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "96"])
def test_a_judged_size_that_is_not_a_whole_number_of_pixels_is_refused(value):
    with pytest.raises(ValueError, match="min_judged_face must be a whole number of pixels"):
        FaceDetector(min_judged_face=value)
    with pytest.raises(Exception, match="min_judged_face"):  # the config's strict types, or its own check
        DeepfakeDetectorConfig(min_judged_face=value)


def test_the_selection_policy_picks_among_judged_faces_and_too_small_faces_come_last():
    image = faces_image([60, 180, 60])  # the judged face in the middle
    for selection in ("all", "largest", "most_confident"):
        faces = FaceDetector(selection=selection, min_judged_face=48).detect(image)
        judged, too_small = FaceDetector(min_judged_face=48).split(faces)
        assert len(judged) == 1 and faces[0] is judged[0] and judged[0].width >= 48, selection
        assert len(too_small) == 2 and all(face.width < 48 for face in too_small), selection
    every, none = FaceDetector(min_judged_face=None).split(faces)
    assert [id(face) for face in every] == [id(face) for face in faces] and none == []


@pytest.mark.parametrize("min_judged_face", [32, MIN_JUDGED_FACE])
@requires_shared_data
def test_detection_sized_to_the_rule_finds_every_face_that_full_detection_finds_at_or_above_it(min_judged_face):
    reference = FaceDetector(min_face_size=20, min_judged_face=None)
    sized = FaceDetector.from_config(DeepfakeDetectorConfig(min_judged_face=min_judged_face))
    assert sized.mtcnn.min_face_size > 20
    checked = 0
    for name in GUARD_FRAMES:
        image = load_image(SHARED_DATA / "ffpp-examples" / name)
        judged, _ = sized.split(sized.detect(image))
        for face in reference.detect(image):
            if face.width >= min_judged_face:
                checked += 1
                best = max((box_iou(face.box, found.box) for found in judged), default=0.0)
                assert best >= 0.5, f"{name}: a {face.width:.0f} px face is lost (best IoU {best:.2f})"
    assert checked >= 3, "the frames hold faces at or above the judged size"
