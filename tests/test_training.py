"""Training: inference's own crops, paired batches, label-keeping augmentations, self-blending, and a real Trainer run."""

import json
import os

import datasets
import numpy as np
import pytest
import torch
from model_factory import astronaut
from PIL import Image

from deepfake_detection import DeepfakeDetectorConfig, FaceDetector
from deepfake_detection.cli import main
from deepfake_detection.configuration_deepfake_detector import LABELS
from deepfake_detection.modeling_deepfake_detector import DeepfakeDetectorForImageClassification
from deepfake_detection.training import (
    AugmentSettings,
    FaceCrops,
    PairedSampler,
    TrainingRecipe,
    augment,
    load_crops,
    self_blend,
    train,
)
from deepfake_detection.training.augmentation import AUGMENTATION_LEVELS
from deepfake_detection.training.crops import NO_GROUP, group_of, training_detection_size
from deepfake_detection.training.data import FaceCropDataset
from deepfake_detection.training.recipe import AUGMENT_CHOICES, train_command

FAKE, REAL = LABELS.index("fake"), LABELS.index("real")


def synthetic_crops(count: int, size: int = 160, seed: int = 0) -> FaceCrops:
    """Half real, half fake, paired by group; fakes carry a bright square where the 'swap' happened."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(60, 120, (count, size, size, 3), dtype=np.uint8)
    labels = np.array([REAL, FAKE] * (count // 2))
    pixels[labels == FAKE, size // 4 : size // 2, size // 4 : 3 * size // 4] = 230
    groups = np.repeat(np.arange(count // 2), 2)
    landmarks = np.tile(np.array([[50, 60], [110, 60], [80, 90], [55, 120], [105, 120]], np.float32), (count, 1, 1))
    return FaceCrops(pixels, labels, groups, landmarks, [f"{i}.png" for i in range(count)])


def test_detected_training_crops_are_the_pipelines_crops(tmp_path):
    astronaut().save(tmp_path / "real_astronaut.png")
    Image.new("RGB", (200, 160), (30, 30, 30)).save(tmp_path / "fake_empty.png")
    config = DeepfakeDetectorConfig()
    crops = load_crops(tmp_path, "test", config, faces="detect", cache_dir=tmp_path / "cache", num_proc=1)
    # training learns from every face, found from 20 px: the judged-size rule is for verdicts
    detector = FaceDetector.from_config(config, selection="most_confident", min_judged_face=None,
                                        min_face_size=training_detection_size(config))
    expected = detector.detect(astronaut())[0]
    assert len(crops) == 1 and crops.labels.tolist() == [REAL]
    assert np.array_equal(crops.pixels[0], expected.crop.permute(1, 2, 0).to(torch.uint8).numpy())
    left_eye = crops.landmarks[0][0]
    assert 0 < left_eye[0] < 80 and 0 < left_eye[1] < 100  # in the crop's pixels, upper left quarter
    assert [(path.endswith("fake_empty.png"), reason) for path, reason in crops.skipped] == [(True, "no face detected")]
    again = load_crops(tmp_path, "test", config, faces="detect", cache_dir=tmp_path / "cache", num_proc=1)
    assert np.array_equal(again.pixels, crops.pixels)
    assert len(list((tmp_path / "cache" / "crops").glob("*.arrow"))) == 1  # the second call read the cache


def test_pairs_come_from_the_csv_by_path_tail():
    pairs = {"train/fake/abc.jpg": "video1", "train/real/video1.jpg": "video1"}
    assert group_of("/data/dfdc/train/fake/abc.jpg", pairs) == "video1"
    assert group_of("/data/dfdc/validation/fake/abc.jpg", pairs) is None


def test_pair_sampler_puts_each_fake_after_a_real_of_its_group():
    crops = synthetic_crops(12)
    crops.groups[-2:] = NO_GROUP  # one unpaired couple: its fake gets a random real
    sampler = PairedSampler(crops.labels, crops.groups, self_blend_fraction=0.5, seed=3)
    order = list(sampler)
    assert len(order) == len(sampler)
    pairs = list(zip(order[::2], order[1::2]))
    blended = [(real, fake) for real, fake in pairs if fake >= len(crops)]
    swapped = [(real, fake) for real, fake in pairs if fake < len(crops)]
    assert all(crops.labels[real] == REAL for real, _ in pairs)
    assert sorted(fake for _, fake in swapped) == np.flatnonzero(crops.labels == FAKE).tolist()
    assert all(crops.groups[real] == crops.groups[fake] for real, fake in swapped if crops.groups[fake] != NO_GROUP)
    assert len(blended) == 3 and all(fake - len(crops) == real for real, fake in blended)
    sampler.set_epoch(1)
    assert list(sampler) != order
    sampler.set_epoch(0)
    assert list(sampler) == order


def test_pair_sampler_refuses_data_without_reals():
    with pytest.raises(ValueError, match="needs real faces"):
        PairedSampler(np.array([FAKE, FAKE]), np.array([0, 0]))
    with pytest.raises(ValueError, match="--self-blend 0"):
        TrainingRecipe(paired=False)


def test_augmentations_keep_shape_dtype_and_labels():
    crops = synthetic_crops(4)
    rng = np.random.default_rng(0)
    always = AugmentSettings(1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    for crop in crops.pixels:
        out = augment(crop, rng, always)
        assert out.shape == crop.shape and out.dtype == np.uint8 and not np.array_equal(out, crop)
    assert np.array_equal(augment(crops.pixels[0], rng, AugmentSettings.none()), crops.pixels[0])
    dataset = FaceCropDataset(crops, always)
    assert [dataset[i]["labels"] for i in range(4)] == crops.labels.tolist()
    assert dataset[len(crops)]["labels"] == FAKE  # real 0, self-blended
    assert dataset[0]["crop"].shape == (3, 160, 160) and dataset[0]["crop"].dtype == torch.uint8


def test_light_augmentation_never_moves_a_pixel():
    crop = np.full((32, 32, 3), 100, np.uint8)
    crop[5, 9] = 250  # one bright pixel: resampling, blur or JPEG would spread it to its neighbours
    rng = np.random.default_rng(1)
    for _ in range(20):
        out = augment(crop, rng, AugmentSettings.light())
        bright = np.argwhere((out.astype(int) - out[0, 0].astype(int) != 0).any(axis=2))
        assert bright.tolist() in ([[5, 9]], [[5, 22]])  # where it was, or mirrored by the flip
    assert AugmentSettings.light().describe() == "flip, colour jitter"
    assert AugmentSettings.none().describe() == "none"


def test_recipe_augmentation_levels():
    assert tuple(AUGMENTATION_LEVELS) == AUGMENT_CHOICES
    assert TrainingRecipe(augment=True).augment == "full" and TrainingRecipe(augment=False).augment == "none"
    with pytest.raises(ValueError, match="augment must be one of full, light, robust, none"):
        TrainingRecipe(augment="strong")
    assert "--augment light" in train_command(TrainingRecipe(augment="light"), "data")


def test_self_blended_image_differs_from_its_source_only_inside_its_mask():
    crop = synthetic_crops(2).pixels[0]
    landmarks = synthetic_crops(2).landmarks[0]
    blended, mask = self_blend(crop, landmarks, np.random.default_rng(5))
    changed = (blended != crop).any(axis=2)
    assert changed.any(), "the blend changed nothing"
    assert not changed[mask == 0].any(), "pixels outside the mask changed"
    assert mask.max() > 0.5 and (mask == 0).mean() > 0.3  # a face region, not the whole crop


def test_training_smoke_run_learns_logs_and_resumes(tmp_path):
    crops = synthetic_crops(32)
    recipe = TrainingRecipe(image_size=80, batch_size=8, learning_rate=1e-3, max_steps=16, eval_every=8,
                            self_blend_fraction=0.0, warmup=0.0, ema_decay=0.5)
    best = train(crops, crops.subset(np.arange(16)), tmp_path / "run", recipe)
    from safetensors.torch import load_file

    checkpoint = tmp_path / "run" / f"checkpoint-{best['step']}"
    average, raw = load_file(checkpoint / "ema.safetensors"), load_file(checkpoint / "model.safetensors")
    kept = load_file(tmp_path / "run" / "best-model" / "model.safetensors")
    name = next(name for name in average if name in kept and average[name].dim() == 4)
    assert not torch.allclose(raw[name], average[name])
    assert torch.allclose(kept[name], {"ema": average, "raw": raw}[best["weights"]][name])  # what best.json says
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [entry["loss"] for entry in log if "loss" in entry]
    assert np.mean(losses[-4:]) < np.mean(losses[:4]), losses
    assert any("eval_roc_auc" in entry for entry in log)
    assert best["metrics"]["eval_roc_auc"] > 0.9 and best["data"]["train_faces"] == 32
    model = DeepfakeDetectorForImageClassification.from_pretrained(tmp_path / "run" / "best-model")
    assert model.config.image_size == 80

    with pytest.raises(ValueError, match="holds an earlier run's results"):
        train(crops, crops.subset(np.arange(16)), tmp_path / "run", recipe)  # a fresh run would mix with the old one

    with pytest.raises(ValueError, match=r"--augment 'full' \(got 'none'\).*only --max-steps"):
        other = TrainingRecipe(**{**recipe.__dict__, "augment": "none"})
        train(crops, crops.subset(np.arange(16)), tmp_path / "run", other, resume=True)  # a resumed run keeps its recipe
    longer = TrainingRecipe(**{**recipe.__dict__, "max_steps": 24})
    train(crops, crops.subset(np.arange(16)), tmp_path / "run", longer, resume=True)
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 24 and min(s for s in steps[len(log):]) > 16  # continued after step 16, not from 0


def test_a_warm_started_run_records_its_starting_model_and_keeps_it_when_resumed(tmp_path):
    crops = synthetic_crops(16, size=96)
    recipe = TrainingRecipe(image_size=80, face_crop_size=96, batch_size=4, max_steps=2, eval_every=2,
                            self_blend_fraction=0.0)
    assert train(crops, crops, tmp_path / "first", recipe)["init_model"] is None
    start = str(tmp_path / "first" / "best-model")
    assert train(crops, crops, tmp_path / "second", recipe, init_model=start)["init_model"] == start
    longer = TrainingRecipe(**{**recipe.__dict__, "max_steps": 4})
    assert train(crops, crops, tmp_path / "second", longer, resume=True)["init_model"] == start
    assert f"--output-dir runs/second --init-model {start}" in train_command(recipe, "data", "runs/second", start)


def test_a_warm_start_resets_running_statistics_that_are_not_finite(tmp_path, capsys):
    """Models exported in fp16 before the statistics stayed fp32 hold inf variances: training re-estimates them, but
    the weight EMA's average of an inf is NaN, so the warm start resets them (and only them)."""
    from deepfake_detection.training.trainer import build_model

    model = DeepfakeDetectorForImageClassification(DeepfakeDetectorConfig())
    statistics = model.inception.last_bn
    with torch.no_grad():
        statistics.running_mean.uniform_(-5, 5)
        statistics.running_var.uniform_(2, 3)
        statistics.running_var[:3] = float("inf")
    model.save_pretrained(tmp_path / "damaged")
    warm = build_model(TrainingRecipe(image_size=80), tmp_path / "damaged").inception.last_bn
    assert warm.running_var[:3].tolist() == [1.0] * 3 and warm.running_mean[:3].tolist() == [0.0] * 3
    torch.testing.assert_close(warm.running_var[3:], statistics.running_var[3:])
    torch.testing.assert_close(warm.running_mean[3:], statistics.running_mean[3:])
    assert "3 running statistic(s) of inception.last_bn are not finite" in capsys.readouterr().out


def test_a_recipes_face_crop_size_becomes_the_models_and_must_match_the_crops(tmp_path):
    recipe = TrainingRecipe(image_size=80, face_crop_size=96, batch_size=4, max_steps=2, eval_every=2,
                            self_blend_fraction=0.0, warmup=0.0)
    crops = synthetic_crops(8, size=96)
    train(crops, crops, tmp_path / "run", recipe)
    config = DeepfakeDetectorConfig.from_pretrained(tmp_path / "run" / "best-model")
    assert (config.face_crop_size, config.image_size) == (96, 80)
    assert "--face-crop-size 96" in train_command(recipe, "data")
    with pytest.raises(ValueError, match="The training crops are 160 px but the model cuts 96-px faces"):
        train(synthetic_crops(8), synthetic_crops(8), tmp_path / "other", recipe)
    assert not (tmp_path / "other").exists()  # refused before anything was written


def test_weight_ema_averages_every_step_and_is_in_place_only_inside_averaged(tmp_path):
    from types import SimpleNamespace

    from deepfake_detection.training import WeightEMA

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = WeightEMA(decay=0.75)
    args, state = SimpleNamespace(output_dir=str(tmp_path), should_save=True), SimpleNamespace(global_step=0)
    start = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    ema.on_train_begin(args, state, None, model=model)
    with torch.no_grad():
        model[0].weight.add_(4.0)
        model[1].running_mean.fill_(2.0)
    ema.on_step_end(args, state, SimpleNamespace(should_evaluate=False), model=model)
    assert torch.allclose(ema.average["0.weight"], start["0.weight"] + 1.0)  # 0.75 * w + 0.25 * (w + 4)
    assert torch.allclose(ema.average["1.running_mean"], torch.full((2,), 0.5))
    raw = model[0].weight.clone()
    ema.on_step_end(args, state, SimpleNamespace(should_evaluate=True), model=model)
    with ema.averaged(model):
        assert torch.allclose(model[0].weight, start["0.weight"] + 1.75)  # validated: the model holds the average
    assert torch.equal(model[0].weight, raw)  # and gets its raw weights back to go on training
    (tmp_path / "checkpoint-0").mkdir()
    ema.on_save(args, state, None)
    resumed = WeightEMA(decay=0.75)
    resumed.on_train_begin(args, state, None, model=model)  # state.global_step 0 -> starts a new average
    assert torch.equal(resumed.average["0.weight"], raw)
    state.global_step = 1
    (tmp_path / "checkpoint-0").rename(tmp_path / "checkpoint-1")
    resumed.on_train_begin(args, state, None, model=model)  # a resumed run continues the saved average
    assert torch.allclose(resumed.average["0.weight"], start["0.weight"] + 1.75)
    with pytest.raises(ValueError, match="ema_decay must be 0"):
        TrainingRecipe(ema_decay=1.0)
    assert "--ema-decay 0.999" in train_command(TrainingRecipe(ema_decay=0.999), "data")


def test_a_run_with_weight_ema_validates_raw_and_averaged_weights_and_keeps_the_better(tmp_path):
    crops = synthetic_crops(16, size=96)
    recipe = TrainingRecipe(image_size=80, face_crop_size=96, batch_size=4, max_steps=6, eval_every=2,
                            self_blend_fraction=0.0, ema_decay=0.5, learning_rate=3e-3)
    best = train(crops, crops, tmp_path / "run", recipe)
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    validated = {(entry["step"], weights): entry[key] for entry in log
                 for weights, key in (("raw", "eval_raw_roc_auc"), ("ema", "eval_roc_auc")) if key in entry}
    assert {step for step, _ in validated} == {2, 4, 6}
    assert {weights for _, weights in validated} == {"raw", "ema"}
    kept = next(key for key, value in validated.items() if value == max(validated.values()))
    assert (best["step"], best["weights"]) == kept and best["metrics"]["eval_roc_auc"] == validated[kept]


def crop_folders(data, classes=(("train", ("real", "fake")), ("validation", ("real", "fake")))):
    """A dataset folder of small synthetic crops: `split/label/N.png`, fakes brighter than reals."""
    rng = np.random.default_rng(0)
    for split, labels in classes:
        for label in labels:
            (data / split / label).mkdir(parents=True)
            for index in range(6):
                value = 200 if label == "fake" else 60
                pixels = np.clip(rng.normal(value, 20, (96, 96, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(data / split / label / f"{index}.png")
    return data


def test_train_command_on_a_folder_of_crops(tmp_path, capsys):
    data = crop_folders(tmp_path / "data")
    exit_code = main(["train", "--dataset", str(data), "--output-dir", str(tmp_path / "run"), "--faces", "crops",
                      "--image-size", "80", "--batch-size", "4", "--max-steps", "4", "--eval-every", "2",
                      "--cache-dir", str(tmp_path / "cache"), "--num-proc", "1"])
    assert exit_code == 0
    assert "Best model:" in capsys.readouterr().out
    assert (tmp_path / "run" / "best-model" / "model.safetensors").is_file()


def test_train_command_explains_a_bad_dataset(tmp_path, capsys):
    assert main(["train", "--dataset", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path / "run")]) == 2
    assert "error:" in capsys.readouterr().err


def test_train_command_refuses_a_validation_split_of_one_class(tmp_path, capsys):
    data = crop_folders(tmp_path / "data", (("train", ("real", "fake")), ("validation", ("real",))))
    assert main(["train", "--dataset", str(data), "--output-dir", str(tmp_path / "run"), "--faces", "crops",
                 "--cache-dir", str(tmp_path / "cache"), "--num-proc", "1"]) == 2
    assert "The validation split 'validation' has 0 fake, 6 real faces; training needs both" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_train_command_explains_an_init_model_that_is_not_a_model(tmp_path, capsys):
    assert main(["train", "--dataset", str(tmp_path / "unused"), "--output-dir", str(tmp_path / "run"),
                 "--init-model", str(tmp_path / "typo")]) == 2
    error = capsys.readouterr().err
    assert f"--init-model {tmp_path / 'typo'}: not a model" in error and "best-model/" in error
    DeepfakeDetectorConfig().save_pretrained(tmp_path / "no-weights")
    assert main(["train", "--dataset", str(tmp_path / "unused"), "--output-dir", str(tmp_path / "run"),
                 "--init-model", str(tmp_path / "no-weights")]) == 2
    assert "not a model (config.json but no weights)" in capsys.readouterr().err


def test_train_reads_other_column_names_and_limits_to_the_rows_evaluate_takes(tmp_path, capsys):
    from deepfake_detection.dataset import sample_indices
    from deepfake_detection.training import load_crops

    rng = np.random.default_rng(1)
    pictures = [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(12)]
    truth = datasets.ClassLabel(names=["fake", "real"])
    features = datasets.Features({"picture": datasets.Image(), "truth": truth})
    table = datasets.Dataset.from_dict({"picture": pictures, "truth": [i % 2 for i in range(12)]}, features=features)
    datasets.DatasetDict({"train": table, "validation": table}).save_to_disk(tmp_path / "data")
    config = DeepfakeDetectorConfig(face_crop_size=64)
    crops = load_crops(str(tmp_path / "data"), "train", config, faces="crops", image_column="picture",
                       label_column="truth", limit=5, cache_dir=tmp_path / "cache", num_proc=1)
    expected = sample_indices(12, 5)
    assert [int(p) for p in crops.labels] == [i % 2 for i in expected]
    assert main(["train", "--dataset", str(tmp_path / "data"), "--output-dir", str(tmp_path / "run"), "--faces", "crops",
                 "--image-column", "picture", "--label-column", "truth", "--face-crop-size", "64", "--image-size", "80",
                 "--batch-size", "4", "--max-steps", "2", "--eval-every", "2", "--cache-dir", str(tmp_path / "cache"),
                 "--num-proc", "1"]) == 0
    assert "Best model:" in capsys.readouterr().out


def test_the_crop_cache_key_follows_the_rows_taken_and_their_bytes_not_the_path_or_file_times(tmp_path):
    import shutil

    import datasets

    from deepfake_detection.training.crops import source_fingerprint

    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(6):
        astronaut().resize((64 + index, 64)).save(folder / f"real_{index}.png")
    table = datasets.Dataset.from_dict({"image": [str(path) for path in sorted(folder.glob("*.png"))]})
    table = table.cast_column("image", datasets.Image(decode=False))
    via_link = tmp_path / "link"
    via_link.symlink_to(folder)
    linked = datasets.Dataset.from_dict({"image": [str(via_link / path.name) for path in sorted(folder.glob("*.png"))]})
    linked = linked.cast_column("image", datasets.Image(decode=False))
    assert source_fingerprint(table) == source_fingerprint(linked)
    copied = shutil.copytree(folder, tmp_path / "copy")  # a re-provisioned copy: same bytes, new times
    for path in copied.glob("*.png"):
        os.utime(path, ns=(1, 1))
    recopied = datasets.Dataset.from_dict({"image": [str(copied / path.name) for path in sorted(folder.glob("*.png"))]})
    assert source_fingerprint(recopied.cast_column("image", datasets.Image(decode=False))) == source_fingerprint(table)
    assert source_fingerprint(table.select(range(3))) != source_fingerprint(table)
    assert source_fingerprint(table.select(range(3))) != source_fingerprint(table.select(range(3, 6)))
    assert source_fingerprint(table.shuffle(seed=1)) != source_fingerprint(table)
    before = source_fingerprint(table)
    (folder / "real_0.png").write_bytes((folder / "real_1.png").read_bytes())  # an edited file misses the cache
    assert source_fingerprint(table) != before


def test_an_image_size_below_the_networks_minimum_is_refused_before_any_data_is_read(tmp_path, capsys):
    from deepfake_detection.training.recipe import MIN_IMAGE_SIZE

    model = DeepfakeDetectorForImageClassification(DeepfakeDetectorConfig()).eval()
    with torch.no_grad():
        model(pixel_values=torch.rand(1, 3, MIN_IMAGE_SIZE, MIN_IMAGE_SIZE))  # the minimum runs...
        with pytest.raises(RuntimeError):
            model(pixel_values=torch.rand(1, 3, MIN_IMAGE_SIZE - 1, MIN_IMAGE_SIZE - 1))  # ...one pixel less cannot
    with pytest.raises(ValueError, match=f"image_size must be at least {MIN_IMAGE_SIZE} px, got 74"):
        TrainingRecipe(image_size=74)
    assert main(["train", "--dataset", str(tmp_path / "never-read"), "--output-dir", str(tmp_path / "run"),
                 "--image-size", "60"]) == 2
    error = capsys.readouterr().err
    assert f"image_size must be at least {MIN_IMAGE_SIZE} px, got 60" in error and "never-read" not in error
    assert not (tmp_path / "run").exists()


def test_an_output_dir_that_is_a_file_is_refused_before_any_data_is_read(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("a file where the run should go")
    assert main(["train", "--dataset", str(tmp_path / "never-read"), "--output-dir", str(taken)]) == 2
    error = capsys.readouterr().err
    assert f"Cannot write the run to {taken}: {taken} is a file, not a folder" in error and "never-read" not in error
    with pytest.raises(ValueError, match="Choose another --output-dir"):
        train(synthetic_crops(4), synthetic_crops(4), taken / "run", TrainingRecipe(image_size=80))


def fake_checkpoint(folder, step: int, optimizer: bool = True):
    """A checkpoint folder with the files resuming reads: weights, trainer state and (optionally) optimizer state."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    save_file({"weight": torch.zeros(64, 64)}, folder / "model.safetensors")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    if optimizer:
        torch.save({"state": {}}, folder / "optimizer.pt")
        torch.save({"last_epoch": step}, folder / "scheduler.pt")
    return folder


def test_a_damaged_checkpoint_is_named_and_set_aside_for_the_previous_good_one(tmp_path, capsys):
    from deepfake_detection.training.checkpoints import resume_checkpoint, warn_missing_optimizer_state

    good = fake_checkpoint(tmp_path / "checkpoint-2", 2, optimizer=False)
    newest = fake_checkpoint(tmp_path / "checkpoint-4", 4)
    weights = (newest / "model.safetensors").read_bytes()
    (newest / "model.safetensors").write_bytes(weights[: len(weights) // 3])  # cut off mid-write
    with pytest.raises(ValueError, match=r"--resume .*checkpoint-4: cannot resume from it: model.safetensors is "
                                         r"damaged .*Pass another checkpoint-N folder"):
        resume_checkpoint(tmp_path, str(newest))  # named explicitly: refused, not replaced
    assert resume_checkpoint(tmp_path, True) == good
    out = capsys.readouterr().out
    assert f"warning: {newest} is damaged (model.safetensors is damaged" in out and "resuming from checkpoint-2" in out
    assert (tmp_path / "damaged-checkpoint-4").is_dir() and not newest.exists()  # no later resume takes it
    warn_missing_optimizer_state(good)
    assert "has no optimizer.pt or scheduler.pt: the run resumes its weights and step with a fresh optimizer" in (
        capsys.readouterr().out)
    (good / "trainer_state.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"No checkpoint in .* can be resumed \(checkpoint-2: trainer_state.json is "
                                         r"missing or damaged"):
        resume_checkpoint(tmp_path, True)


def test_a_run_resumed_from_an_earlier_checkpoint_logs_each_step_once(tmp_path, capsys):
    crops = synthetic_crops(16, size=96)
    recipe = TrainingRecipe(image_size=80, face_crop_size=96, batch_size=4, max_steps=4, eval_every=2,
                            self_blend_fraction=0.0, warmup=0.0)
    run = tmp_path / "run"
    train(crops, crops.subset(np.arange(8)), run, recipe)
    (run / "checkpoint-4" / "model.safetensors").write_bytes(b"damaged")  # as if the run died writing it
    (run / "checkpoint-2" / "optimizer.pt").unlink()
    train(crops, crops.subset(np.arange(8)), run, recipe, resume=True)  # steps 3 and 4 run, and are logged, again
    out = capsys.readouterr().out
    assert "checkpoint-4 is damaged" in out and "has no optimizer.pt" in out
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    loss_steps = [row["step"] for row in log if "loss" in row]
    assert loss_steps == [1, 2, 3, 4]
    assert [row["step"] for row in log] == sorted(row["step"] for row in log)
