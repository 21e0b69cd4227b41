"""The config carries the decision: threshold, what the score means, and validated face settings."""

import json

import numpy as np
import pytest
from PIL import Image

from deepfake_detection import DeepfakeDetectorConfig
from deepfake_detection.modeling_deepfake_detector import FaceVerdict
from deepfake_detection.configuration_deepfake_detector import MIN_JUDGED_FACE
from deepfake_detection.outputs import NO_FACE_MESSAGE, FaceResult, ImageResult, TooSmallFace


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"threshold": 0.0}, "threshold must be a number strictly between 0 and 1"),
        ({"threshold": 1.0}, "threshold must be a number strictly between 0 and 1"),
        ({"face_selection": "biggest"}, "face_selection must be one of"),
        ({"score_label": "genuine"}, "score_label must be one of"),
        ({"id2label": {0: "negative", 1: "positive"}}, "id2label must name exactly the labels"),
        ({"detection_thresholds": [0.6, 0.7]}, "detection_thresholds needs 3 values"),
        ({"min_judged_face": 0}, "min_judged_face must be a whole number of pixels of at least 1, or None to judge "
                                 "every face"),
        ({"min_judged_face": -8}, "min_judged_face must be a whole number of pixels"),
        ({"min_face_size": 0}, "min_face_size must be a whole number of pixels of at least 1, or None to follow "
                               "min_judged_face"),
    ],
)
def test_invalid_settings_are_refused_with_the_reason(settings, message):
    with pytest.raises(ValueError, match=message):
        DeepfakeDetectorConfig(**settings)


def test_defaults_are_the_original_apps():
    config = DeepfakeDetectorConfig()
    assert (config.threshold, config.score_label, config.image_size, config.face_crop_size) == (0.7, "real", 256, 160)
    assert config.gradcam_target_layer == "block8.branch1.-1"
    assert config.id2label == {0: "fake", 1: "real"} and config.label2id == {"fake": 0, "real": 1}


def test_a_real_score_of_exactly_the_threshold_is_fake_and_just_above_is_real():
    config = DeepfakeDetectorConfig(score_label="real", threshold=0.7)
    assert config.label_for(0.7) == "fake"
    assert config.label_for(0.7000001) == "real"
    assert config.label_for(0.2) == "fake"
    assert config.probabilities(0.7) == pytest.approx({"real": 0.7, "fake": 0.3})
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        config.label_for(0.5, threshold=1.0)


def test_flipping_the_score_label_flips_the_verdict():
    real_score = DeepfakeDetectorConfig(score_label="real")
    fake_score = DeepfakeDetectorConfig(score_label="fake")
    for score in (0.1, 0.7, 0.71, 0.99):
        assert {real_score.label_for(score), fake_score.label_for(score)} == {"real", "fake"}
    assert fake_score.probabilities(0.9) == pytest.approx({"fake": 0.9, "real": 0.1})


def test_config_round_trips_through_save_and_load(tmp_path):
    config = DeepfakeDetectorConfig(threshold=0.55, score_label="fake", face_selection="largest")
    config.save_pretrained(tmp_path)
    loaded = DeepfakeDetectorConfig.from_pretrained(tmp_path)
    assert (loaded.threshold, loaded.score_label, loaded.face_selection) == (0.55, "fake", "largest")
    assert loaded.id2label == config.id2label and loaded.label2id == config.label2id


def face(score: float, config: DeepfakeDetectorConfig) -> FaceResult:
    return FaceResult(**FaceVerdict.from_score(score, config), box=[0, 0, 10, 10], detection_confidence=0.99)


def test_image_verdict_follows_the_most_suspicious_face_and_relabels_without_the_model():
    config = DeepfakeDetectorConfig()
    result = ImageResult.from_faces([face(score, config) for score in (0.95, 0.72, 0.8)])
    assert result.label == "real" and result.fake_probability == pytest.approx(0.28)
    assert result.suspect.score == pytest.approx(0.72)
    stricter = result.relabel(config, threshold=0.75)
    assert [face.label for face in stricter.faces] == ["real", "fake", "real"]
    assert stricter.label == "fake" and stricter.num_faces == 3
    assert [face.label for face in result.faces] == ["real", "real", "real"]  # the original is left as it was
    empty = ImageResult.from_faces([])
    assert empty.label is None and "No face" in empty.message


def test_verdict_rule_is_strictly_above_the_threshold_for_either_score_label():
    for score_label in ("real", "fake"):
        config = DeepfakeDetectorConfig(score_label=score_label, threshold=0.6)
        assert FaceVerdict.from_score(0.6, config).label == config.other_label
        assert FaceVerdict.from_score(0.6001, config).label == score_label
        assert FaceVerdict.from_score(0.3, config, threshold=0.2).label == score_label
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            FaceVerdict.from_score(0.3, config, threshold=0)


def test_results_read_as_attributes_or_keys_and_serialise_without_arrays():
    config = DeepfakeDetectorConfig()
    with_heatmap = FaceResult(**FaceVerdict.from_score(0.9, config), box=[1.0, 2.0, 3.0, 4.0], heatmap=np.zeros((2, 2)))
    result = ImageResult.from_faces([with_heatmap], overlay=Image.new("RGB", (4, 4)))
    assert result["label"] == result.label == "real" and "message" not in result and "overlay" in result
    as_json = json.loads(json.dumps(result.to_dict()))
    assert set(as_json) == {"label", "fake_probability", "num_faces", "faces", "too_small"}
    assert set(as_json["faces"][0]) == {"score", "probabilities", "label", "box", "landmarks"}
    assert as_json["faces"][0]["probabilities"] == pytest.approx({"real": 0.9, "fake": 0.1})
    unreadable = ImageResult.unreadable("bad file")
    assert unreadable.to_dict() == {"label": None, "fake_probability": None, "num_faces": 0, "faces": [],
                                    "too_small": [], "error": "bad file"}
    assert unreadable["label"] is None and "message" not in unreadable


def test_the_judged_size_rule_is_at_or_above_min_judged_face_and_none_judges_every_face():
    assert DeepfakeDetectorConfig.is_judged(96.0, 96) and not DeepfakeDetectorConfig.is_judged(95.9, 96)
    assert DeepfakeDetectorConfig.is_judged(3.0, None)
    loaded = DeepfakeDetectorConfig(min_judged_face=None)
    assert loaded.min_judged_face is None and DeepfakeDetectorConfig().min_judged_face == MIN_JUDGED_FACE


def test_an_image_with_only_faces_too_small_to_judge_has_no_verdict_and_says_so_not_no_face():
    config = DeepfakeDetectorConfig()
    tiny = TooSmallFace(box=[0.0, 0.0, 20.0, 24.0], width=20.0, detection_confidence=0.98)
    result = ImageResult.from_faces([], too_small=[tiny], min_judged_face=96)
    assert result.label is None and result.all_too_small and result.message != NO_FACE_MESSAGE
    assert "too small to judge (under 96 px wide)" in result.message
    assert result.to_dict()["too_small"] == [{"box": [0.0, 0.0, 20.0, 24.0], "width": 20.0,
                                              "detection_confidence": 0.98}]
    judged = ImageResult.from_faces([face(0.2, config)], too_small=[tiny], min_judged_face=96)
    assert judged.label == "fake" and judged.message is None and not judged.all_too_small
    assert judged.relabel(config, 0.1).too_small == [tiny] and judged.relabel(config, 0.1).label == "real"
