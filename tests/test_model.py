"""The transformers model, its image processor and Grad-CAM, against facenet-pytorch and pytorch-grad-cam."""

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from model_factory import astronaut, calibration_batch, make_model, save_model
from PIL import Image
from seed_reference import SeedApp

from deepfake_detection import (
    DeepfakeDetectorConfig,
    DeepfakeDetectorForImageClassification,
    DeepfakeDetectorImageProcessor,
    GradCamExplainer,
)


@pytest.fixture(scope="module")
def model():
    return make_model(seed=1)


def test_single_logit_matches_facenet_and_two_class_softmax_equals_its_sigmoid(model):
    pixel_values = calibration_batch(4, seed=3)
    reference = SeedApp(model.inception.state_dict()).model
    with torch.inference_mode():
        expected = reference(pixel_values)[:, 0]
        output = model(pixel_values)
    real = model.config.label2id["real"]
    assert output.logits.shape == (4, 2)
    torch.testing.assert_close(output.logits[:, real], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(output.logits.softmax(-1)[:, real], torch.sigmoid(expected), atol=1e-6, rtol=0)
    torch.testing.assert_close(model.scores(pixel_values), torch.sigmoid(expected), atol=1e-6, rtol=0)


def test_loss_is_bce_on_the_score_label_and_trains():
    model = make_model(seed=2, score_label="fake").train()
    pixel_values = calibration_batch(4, seed=4)
    labels = torch.tensor([0, 1, 1, 0])  # id2label: 0 fake, 1 real; the score means "fake"
    output = model(pixel_values, labels=labels)
    fake_index = model.config.label2id["fake"]
    expected = F.binary_cross_entropy_with_logits(output.logits[:, fake_index], (labels == 0).float())
    torch.testing.assert_close(output.loss, expected)
    output.loss.backward()
    assert model.inception.logits.weight.grad is not None and model.inception.logits.weight.grad.abs().sum() > 0


def test_predict_applies_the_config_threshold_strictly(model):
    pixel_values = calibration_batch(3, seed=5)
    scores = model.scores(pixel_values[:1]).tolist()
    at_score = model.predict(pixel_values[:1], threshold=scores[0])[0]
    just_below = model.predict(pixel_values[:1], threshold=scores[0] - 1e-4)[0]
    assert at_score["label"] == "fake" and just_below["label"] == "real"
    assert at_score["probabilities"]["real"] == pytest.approx(scores[0])
    assert at_score["probabilities"]["fake"] == pytest.approx(1 - scores[0])


def test_save_and_load_give_identical_logits(model, tmp_path):
    save_model(model, tmp_path)
    loaded = DeepfakeDetectorForImageClassification.from_pretrained(tmp_path).eval()
    pixel_values = calibration_batch(2, seed=6)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(pixel_values).logits, model(pixel_values).logits, atol=1e-6, rtol=0)


def test_processor_reproduces_the_seed_resize_and_scaling():
    processor = DeepfakeDetectorImageProcessor()
    generator = np.random.default_rng(0)
    crop = torch.from_numpy(generator.integers(0, 256, (3, 160, 160)).astype(np.float32))
    expected = F.interpolate(crop.unsqueeze(0), size=(256, 256), mode="bilinear", align_corners=False) / 255.0
    as_tensor = processor(crop)["pixel_values"]
    as_image = processor(Image.fromarray(crop.permute(1, 2, 0).numpy().astype(np.uint8)))["pixel_values"]
    torch.testing.assert_close(as_tensor, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(as_image, expected, atol=1e-6, rtol=0)


def test_processor_brings_other_crop_sizes_to_the_face_crop_size_first():
    processor = DeepfakeDetectorImageProcessor()
    crop = astronaut().crop((170, 60, 394, 284))  # 224x224, like the DFDC crops
    expected = processor(crop.resize((160, 160), Image.BILINEAR))["pixel_values"]
    torch.testing.assert_close(processor(crop)["pixel_values"], expected, atol=0, rtol=0)
    assert processor([crop, np.asarray(crop)])["pixel_values"].shape == (2, 3, 256, 256)
    with pytest.raises(ValueError, match="HWC RGB"):
        processor(np.zeros((10, 10)))


def test_processor_refuses_face_arrays_that_are_not_8_bit_instead_of_blackening_them():
    processor = DeepfakeDetectorImageProcessor()
    face = np.asarray(astronaut().crop((170, 60, 330, 220)))
    with pytest.raises(ValueError, match=r"uint8 \(0-255\), got float64.*astype\(np.uint8\)"):
        processor(face / 255.0)
    with pytest.raises(ValueError, match="uint8 .*got uint16"):
        processor(face.astype(np.uint16) * 257)
    assert processor(face)["pixel_values"].max() > 0.5


def test_gradcam_matches_pytorch_grad_cam_on_the_whole_model(model):
    pixel_values = calibration_batch(2, seed=7)
    scores, heatmaps = GradCamExplainer(model).explain(pixel_values)
    seed = SeedApp(model.inception.state_dict())
    for index in range(2):
        expected = seed.explain(pixel_values[index : index + 1])
        np.testing.assert_allclose(heatmaps[index], expected, atol=1e-4)
    torch.testing.assert_close(scores, model.scores(pixel_values), atol=1e-6, rtol=0)
    assert heatmaps.shape == (2, 256, 256) and 0 <= heatmaps.min() and heatmaps.max() <= 1
    assert not any(module._forward_hooks for module in model.modules()), "Grad-CAM must not hook the shared model"


def test_two_threads_explaining_on_one_model_get_their_own_heatmaps(model):
    batches = [calibration_batch(1, seed=seed) for seed in (10, 11)]
    explainer = GradCamExplainer(model)
    expected = [explainer.explain(batch)[1] for batch in batches]
    results: dict[int, list] = {0: [], 1: []}

    def explain_repeatedly(index: int) -> None:
        for _ in range(3):
            results[index].append(explainer.explain(batches[index])[1])

    threads = [threading.Thread(target=explain_repeatedly, args=(index,)) for index in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not np.allclose(expected[0], expected[1], atol=1e-3), "the two inputs must have different heatmaps"
    for index in (0, 1):
        for heatmap in results[index]:
            np.testing.assert_allclose(heatmap, expected[index], atol=1e-5)


def test_an_unknown_gradcam_layer_is_refused():
    config = DeepfakeDetectorConfig(gradcam_target_layer="block9.branch1.-1")
    with pytest.raises(ValueError, match="does not exist"):
        GradCamExplainer(DeepfakeDetectorForImageClassification(config))


def test_trainer_fine_tunes_on_face_crops_with_class_index_labels(tmp_path):
    import datasets
    from transformers import Trainer, TrainingArguments

    model = make_model(seed=6).train()
    pixel_values = calibration_batch(4, seed=12)
    train = datasets.Dataset.from_dict({"pixel_values": pixel_values.numpy(), "labels": [0, 1, 0, 1]})
    train.set_format("torch")
    before = model.inception.logits.weight.detach().clone()
    arguments = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=2, max_steps=2, learning_rate=1e-3,
        report_to=[], save_strategy="no", use_cpu=True, logging_steps=1,
    )
    result = Trainer(model=model, args=arguments, train_dataset=train).train()
    assert result.training_loss > 0 and np.isfinite(result.training_loss)
    assert not torch.equal(model.inception.logits.weight.detach(), before), "training must update the weights"
