"""Platt scaling of the score: fitted to lower the ECE, stored in the config, applied inside the model's score."""

import numpy as np
import pytest
import torch
from model_factory import calibration_batch, make_model

from deepfake_detection import DeepfakeDetectorConfig
from deepfake_detection.explain import GradCamExplainer
from deepfake_detection.metrics import expected_calibration_error
from deepfake_detection.training.calibration import (
    calibrate_model,
    calibrate_scores,
    fit_platt,
    network_logits,
)
from deepfake_detection.training.crops import FAKE, NO_GROUP, REAL, FaceCrops


def overconfident(count: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits four times too large and shifted by 2: the truth is sigmoid((z - 2) / 4)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(2, 8, count)
    truth = rng.random(count) < 1 / (1 + np.exp(-(logits - 2) / 4))
    return logits, truth


def test_platt_scaling_lowers_the_ece_of_an_overconfident_score():
    logits, truth = overconfident()
    calibration = calibrate_scores(logits, truth)
    assert calibration.score_scale == pytest.approx(0.25, abs=0.05)
    assert calibration.score_shift == pytest.approx(-0.5, abs=0.2)
    assert calibration.ece_before > 0.1
    assert calibration.ece_after < 0.03 and calibration.ece_cross_fitted < 0.04


def test_a_score_that_does_not_rank_is_refused_rather_than_inverted():
    logits, truth = overconfident()
    with pytest.raises(ValueError, match="would invert it"):
        fit_platt(-logits, truth)
    with pytest.raises(ValueError, match="both classes"):
        fit_platt(logits, np.ones(len(logits), bool))


def test_the_config_holds_the_scaling_and_refuses_a_non_positive_scale(tmp_path):
    config = DeepfakeDetectorConfig(score_scale=0.5, score_shift=-1.25)
    config.save_pretrained(tmp_path)
    loaded = DeepfakeDetectorConfig.from_pretrained(tmp_path)
    assert (loaded.score_scale, loaded.score_shift) == (0.5, -1.25)
    with pytest.raises(ValueError, match="score_scale must be a positive finite number"):
        DeepfakeDetectorConfig(score_scale=-2.0)
    with pytest.raises(ValueError, match="score_shift must be a finite number"):
        DeepfakeDetectorConfig(score_shift=float("nan"))


def test_the_model_score_and_grad_cam_apply_the_config_scaling():
    model = make_model(seed=1)
    pixel_values = calibration_batch(3, seed=2)
    raw = model.scores(pixel_values)
    model.config.score_scale, model.config.score_shift = 0.5, 0.75
    network = torch.logit(raw.double())
    expected = torch.sigmoid(0.5 * network + 0.75).float()
    torch.testing.assert_close(model.scores(pixel_values), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(model(pixel_values).logits.softmax(-1)[:, model.config.label2id["real"]], expected,
                               atol=1e-5, rtol=0)
    scores, _ = GradCamExplainer(model).explain(pixel_values)
    torch.testing.assert_close(scores, expected, atol=1e-4, rtol=0)


def test_calibrate_model_writes_the_fit_into_the_folder_config(tmp_path):
    model = make_model(seed=3)
    model.save_pretrained(tmp_path)
    from deepfake_detection import DeepfakeDetectorImageProcessor

    DeepfakeDetectorImageProcessor(face_crop_size=32, size=model.config.image_size).save_pretrained(tmp_path)
    rng = np.random.default_rng(0)
    count = 24
    pixels = rng.integers(0, 255, (count, 32, 32, 3), dtype=np.uint8)
    labels = np.array([REAL, FAKE] * (count // 2))
    crops = FaceCrops(pixels, labels, np.full(count, NO_GROUP), np.zeros((count, 5, 2), np.float32),
                      [f"{i}.png" for i in range(count)])
    logits = network_logits(tmp_path, crops)
    order = np.argsort(logits)  # make the labels follow the score, so the fit is meaningful
    crops.labels[order[: count // 2]], crops.labels[order[count // 2:]] = FAKE, REAL
    calibration = calibrate_model(tmp_path, crops)
    saved = DeepfakeDetectorConfig.from_pretrained(tmp_path)
    assert (saved.score_scale, saved.score_shift) == (calibration.score_scale, calibration.score_shift)
    assert (tmp_path / "calibration.json").is_file()
    assert expected_calibration_error(crops.labels == REAL, 1 / (1 + np.exp(-logits))) == pytest.approx(
        calibration.ece_before)
