"""The deepfake-detection pipeline: faces found, scored as the seed app scores them, explained, and reported."""

import numpy as np
import torch
import pytest
from conftest import SHARED_DATA, requires_shared_data
from model_factory import astronaut
from PIL import Image
from seed_reference import SeedApp
from transformers import pipeline

from deepfake_detection import DeepfakeDetectionPipeline, FaceDetector, ImageLoadError, load_pipeline


@pytest.fixture(scope="module")
def detector(model_dir) -> DeepfakeDetectionPipeline:
    """The pipeline in parity mode: the original app's exact arithmetic."""
    return load_pipeline(model_dir, parity=True)


@pytest.fixture(scope="module")
def fast_detector(model_dir) -> DeepfakeDetectionPipeline:
    """The pipeline with default settings (channels-last classifier and MTCNN)."""
    return load_pipeline(model_dir)


def test_default_settings_stay_within_1e3_of_parity_mode_and_batches_match_single_calls(detector, fast_detector):
    images = [astronaut(), astronaut().transpose(Image.FLIP_LEFT_RIGHT), astronaut().rotate(8)]
    exact = detector(images)
    fast = fast_detector(images, batch_size=3)
    assert not fast_detector.parity and detector.parity
    original, fast_layout = (next(p.face_detector.mtcnn.pnet.parameters()) for p in (detector, fast_detector))
    assert original.is_contiguous() and not original.is_contiguous(memory_format=torch.channels_last)
    assert fast_layout.is_contiguous(memory_format=torch.channels_last)
    for image, exact_result, fast_result in zip(images, exact, fast):
        fast_boxes, exact_boxes = ([face["box"] for face in result["faces"]] for result in (fast_result, exact_result))
        assert np.allclose(fast_boxes, exact_boxes, atol=1e-2), (fast_boxes, exact_boxes)
        for exact_face, fast_face in zip(exact_result["faces"], fast_result["faces"]):
            assert fast_face["score"] == pytest.approx(exact_face["score"], abs=1e-3)
        single = fast_detector(image)["faces"][0]["score"]
        assert single == pytest.approx(fast_result["faces"][0]["score"], abs=1e-5)


def test_classify_crops_scores_each_image_as_one_face(detector):
    image = astronaut()
    face = detector.face_detector.detect(image)[0]
    crops = detector.classify_crops([face.crop_image(), face.crop_image().rotate(5)], threshold=0.5)
    assert crops[0]["score"] == pytest.approx(detector(image)["faces"][0]["score"], abs=1e-5)
    assert crops[0]["score"] != pytest.approx(crops[1]["score"], abs=1e-4)
    for crop in crops:
        assert crop["label"] == ("real" if crop["score"] > 0.5 else "fake")


def test_the_astronaut_has_one_face_scored_like_the_seed_app(detector):
    image = astronaut()
    result = detector(image)
    assert result["num_faces"] == 1 and len(result["faces"]) == 1
    face = result["faces"][0]
    seed = SeedApp(detector.model.inception.state_dict())
    expected = seed.score(seed.face(image)[0])
    assert face["score"] == pytest.approx(expected, abs=1e-5)
    assert face["probabilities"]["real"] == pytest.approx(expected, abs=1e-5)
    assert face["probabilities"]["fake"] == pytest.approx(1 - expected, abs=1e-5)
    assert face["label"] == ("real" if expected > 0.7 else "fake")
    assert result["label"] == face["label"] and result["fake_probability"] == face["probabilities"]["fake"]
    x1, y1, x2, y2 = face["box"]
    assert 150 < x1 < x2 < 300 and 40 < y1 < y2 < 200, "the box must be on the astronaut's face"
    assert face["detection_confidence"] > 0.9 and len(face["landmarks"]) == 5


def test_an_image_without_a_face_says_so(detector):
    result = detector(Image.new("RGB", (320, 240), (90, 120, 200)))
    assert result["label"] is None and result["faces"] == [] and result["num_faces"] == 0
    assert "No face detected" in result["message"]


def test_every_input_type_gives_the_same_result(detector, tmp_path):
    image = astronaut()
    path = tmp_path / "astronaut.png"
    image.save(path)
    expected = detector(image)["faces"][0]["score"]
    inputs = [str(path), path, path.read_bytes(), np.asarray(image), image]
    for result in detector(inputs):  # a face's row in the batch changes the convolutions' summation order (~1e-6)
        assert result["faces"][0]["score"] == pytest.approx(expected, abs=1e-5)


def test_a_batch_gives_the_same_results_as_one_at_a_time(detector):
    images = [astronaut(), Image.new("RGB", (200, 200)), astronaut().transpose(Image.FLIP_LEFT_RIGHT)]
    batched = detector(images, batch_size=3)
    for image, result in zip(images, batched):
        single = detector(image)
        assert len(result["faces"]) == len(single["faces"])
        for face, single_face in zip(result["faces"], single["faces"]):
            assert face["box"] == single_face["box"]
            assert face["score"] == pytest.approx(single_face["score"], abs=1e-5)


def test_unreadable_input_raises_a_clear_error(detector, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image at all")
    with pytest.raises(ImageLoadError, match="not a readable image"):
        detector(str(broken))
    with pytest.raises(ImageLoadError, match="no such file"):
        detector(str(tmp_path / "missing.png"))
    with pytest.raises(ImageLoadError, match="HxW"):
        detector(np.zeros((4, 4, 7), dtype=np.uint8))


def test_explain_gives_the_seed_heatmap_and_overlays_from_the_same_scores(detector):
    image = astronaut()
    plain = detector(image)
    explained = detector(image, explain=True)
    face = explained["faces"][0]
    assert face["score"] == pytest.approx(plain["faces"][0]["score"], abs=1e-5)
    seed = SeedApp(detector.model.inception.state_dict())
    expected = seed.explain(seed.face(image)[0])
    np.testing.assert_allclose(face["heatmap"], expected, atol=1e-3)
    assert face["face_overlay"].size == (256, 256)
    overlay = np.asarray(explained["overlay"]).astype(int)
    original = np.asarray(image).astype(int)
    assert explained["overlay"].size == image.size
    x1, y1, x2, y2 = (int(v) for v in face["box"])
    assert np.abs(overlay[y1 + 5 : y2 - 5, x1 + 5 : x2 - 5] - original[y1 + 5 : y2 - 5, x1 + 5 : x2 - 5]).mean() > 5
    assert np.array_equal(overlay[:, : x1 - 2], original[:, : x1 - 2]), "pixels outside the face must not change"


def test_threshold_override_relabels(detector):
    score = detector(astronaut())["faces"][0]["score"]
    assert detector(astronaut(), threshold=score)["faces"][0]["label"] == "fake"
    assert detector(astronaut(), threshold=score - 1e-3)["faces"][0]["label"] == "real"


def test_json_output_has_no_arrays_or_images(detector):
    import json

    explained = detector(astronaut(), explain=True)
    assert explained.overlay is not None and explained.faces[0].heatmap is not None
    result = explained.to_dict()
    assert "overlay" not in result and "heatmap" not in result["faces"][0] and "face_overlay" not in result["faces"][0]
    assert json.loads(json.dumps(result))["faces"][0]["probabilities"].keys() == {"real", "fake"}


def test_the_classifier_also_works_as_a_plain_image_classification_pipeline(model_dir, detector):
    image = astronaut()
    face = detector.face_detector.detect(image)[0]
    classifier = pipeline("image-classification", model=str(model_dir))
    scores = {entry["label"]: entry["score"] for entry in classifier(face.crop_image())}
    expected = detector(image)["faces"][0]["probabilities"]
    assert scores == pytest.approx(expected, abs=1e-5)


def test_face_selection_policies():
    image = Image.new("RGB", (1024, 512))
    image.paste(astronaut().crop((140, 20, 320, 220)), (40, 100))
    image.paste(astronaut().crop((140, 20, 320, 220)).resize((120, 134)), (700, 150))
    all_faces = FaceDetector(selection="all").detect(image)
    assert len(all_faces) == 2
    assert all_faces[0].confidence >= all_faces[1].confidence
    largest = FaceDetector(selection="largest").detect(image)
    most_confident = FaceDetector(selection="most_confident").detect(image)
    assert len(largest) == 1 and largest[0].area == max(face.area for face in all_faces)
    assert len(most_confident) == 1 and most_confident[0].box == all_faces[0].box


@requires_shared_data
def test_every_example_frame_has_a_face_and_frames_with_several_faces_give_several(detector):
    frames = sorted((SHARED_DATA / "ffpp-examples").iterdir())
    assert len(frames) == 31
    results = detector([str(frame) for frame in frames], batch_size=4)
    counts = {frame.name: result["num_faces"] for frame, result in zip(frames, results)}
    assert all(count >= 1 for count in counts.values()), f"frames without a face: {counts}"
    assert sum(count > 1 for count in counts.values()) >= 2, f"several frames hold several faces: {counts}"
    for result in results:
        assert len({tuple(face["box"]) for face in result["faces"]}) == result["num_faces"]


@requires_shared_data
def test_pipeline_matches_the_seed_app_on_a_full_hd_frame(detector):
    frame = Image.open(SHARED_DATA / "ffpp-examples" / "fake_frame_1.png").convert("RGB")
    seed = SeedApp(detector.model.inception.state_dict())
    expected = seed.score(seed.face(frame)[0])
    result = detector(frame)
    most_confident = max(result["faces"], key=lambda face: face["detection_confidence"])
    assert most_confident["score"] == pytest.approx(expected, abs=1e-5)


def test_an_image_url_is_downloaded(detector, local_hub, tmp_path):
    from huggingface_hub import HfApi

    astronaut().save(tmp_path / "astronaut.png")
    HfApi().create_repo("org/url-images", repo_type="dataset", exist_ok=True)
    HfApi().upload_file(
        path_or_fileobj=tmp_path / "astronaut.png", path_in_repo="astronaut.png", repo_id="org/url-images",
        repo_type="dataset",
    )
    url = f"{local_hub.endpoint}/datasets/org/url-images/resolve/main/astronaut.png"
    assert detector(url)["faces"][0]["score"] == pytest.approx(detector(astronaut())["faces"][0]["score"], abs=1e-6)
    with pytest.raises(ImageLoadError, match="could not download"):
        detector(f"{local_hub.endpoint}/datasets/org/url-images/resolve/main/missing.png")


def test_a_list_continues_past_unreadable_and_tiny_images(detector, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG but not really")
    inputs = [Image.new("RGB", (15, 15)), str(broken), astronaut(), Image.new("RGB", (3000, 8))]
    tiny, unreadable, face, sliver = detector(inputs, batch_size=2)
    assert tiny["num_faces"] == 0 and "No face detected" in tiny["message"]
    assert unreadable["label"] is None and "not a readable image" in unreadable["error"]
    assert face["num_faces"] == 1
    assert sliver["num_faces"] == 0


def test_an_image_whose_analysis_fails_is_named_in_its_error_and_the_others_are_analysed(detector, tmp_path,
                                                                                           monkeypatch):
    detect_batch = detector.face_detector.detect_batch

    def fails_on_grey(images):
        if any(image.getpixel((0, 0)) == (128, 128, 128) for image in images):
            raise RuntimeError("detector exploded\nsecond line")
        return detect_batch(images)

    monkeypatch.setattr(detector.face_detector, "detect_batch", fails_on_grey)
    grey = tmp_path / "grey.png"
    Image.new("RGB", (64, 64), (128, 128, 128)).save(grey)
    face, failed, from_memory = detector([astronaut(), str(grey), Image.new("RGB", (64, 64), (128, 128, 128))])
    assert face.num_faces == 1 and face.error is None
    assert failed.error == f"{grey}: could not analyse this image (RuntimeError: detector exploded)"
    assert from_memory.error.startswith("list item 3 (Image): could not analyse this image")


def test_a_threshold_outside_0_1_is_refused(detector):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        detector(astronaut(), threshold=1.5)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        detector.classify_crops([astronaut()], threshold=0.0)


def test_an_unknown_option_is_refused_and_names_the_options_there_are(detector):
    with pytest.raises(TypeError, match=r"no option 'fps'.*video_options"):
        detector(astronaut(), fps=2)
    with pytest.raises(TypeError, match="no option 'treshold'"):
        detector([astronaut(), astronaut()], treshold=0.5)


def test_downscaled_detection_maps_boxes_and_crops_back_to_full_resolution():
    from facenet_pytorch.models.utils.detect_face import extract_face

    image = astronaut().resize((1024, 1024), Image.BILINEAR)
    full = FaceDetector().detect(image)[0]
    fast = FaceDetector(max_side=512).detect(image)[0]
    assert max(abs(a - b) for a, b in zip(full.box, fast.box)) < 12, (full.box, fast.box)
    assert max(abs(a - b) for p, q in zip(full.landmarks, fast.landmarks) for a, b in zip(p, q)) < 12
    assert 300 < fast.box[0] < fast.box[2] < 600, "the box must be in full-resolution pixels"
    assert torch.equal(fast.crop, extract_face(image, np.array(fast.box), 160, 0))


def test_channels_last_detection_finds_the_original_layouts_faces():
    from facenet_pytorch import MTCNN

    image = Image.new("RGB", (1024, 512))
    image.paste(astronaut().crop((140, 20, 320, 220)), (40, 100))
    image.paste(astronaut().crop((140, 20, 320, 220)).resize((60, 67)), (700, 150))
    original = MTCNN(keep_all=True, post_process=False).eval()
    boxes, probs = original.detect(image)
    fast = FaceDetector(channels_last=True).detect(image)
    assert next(FaceDetector().mtcnn.pnet.parameters()).is_contiguous(memory_format=torch.channels_last)
    assert len(fast) == len(boxes) == 2
    for face in fast:
        assert np.abs(np.asarray(boxes, dtype=float) - face.box).max(axis=1).min() < 1e-2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: face detection follows the model there")
def test_face_detection_runs_on_the_pipelines_device(model_dir):
    on_gpu = load_pipeline(model_dir, device=0)
    assert next(on_gpu.face_detector.mtcnn.parameters()).device == on_gpu.device
    assert on_gpu(astronaut()).faces, "MTCNN on the GPU finds the astronaut"


@pytest.mark.parametrize("value", [-1, 0, 2.5, True, "8"])
def test_a_batch_size_that_is_not_a_whole_number_of_at_least_1_is_refused_before_any_work(detector, value):
    message = f"batch_size must be a whole number of at least 1.*got {value!r}"
    with pytest.raises(ValueError, match=message):
        detector([astronaut()] * 3, batch_size=value)  # batch_size=-1 once gave [None, None, None]
    with pytest.raises(ValueError, match=message):
        detector.classify_crops([astronaut()], batch_size=value)
    with pytest.raises(ValueError, match=message):
        detector.analyse_video("never-opened.mp4", batch_size=value)


@pytest.mark.parametrize("options, message", [
    ({"fps": float("nan")}, "fps must be a finite number above 0"),
    ({"fps": float("inf")}, "fps must be a finite number above 0"),
    ({"fps": 0}, "fps must be a finite number above 0"),
    ({"num_frames": 0}, "num_frames must be a whole number of at least 1"),
    ({"num_frames": 2.5}, "num_frames must be a whole number of at least 1"),
    ({"explain_frames": -1}, "explain_frames must be a whole number of at least 0"),
])
def test_video_options_that_cannot_sample_are_refused_before_the_file_is_opened(detector, tmp_path, options, message):
    with pytest.raises(ValueError, match=message):  # not "no such file": checked before the video is opened
        detector.analyse_video(tmp_path / "missing.mp4", **options)
    with pytest.raises(ValueError, match=message):  # in a list too: one message, not one error result per video
        detector([str(tmp_path / "missing.mp4"), astronaut()], video_options=options)
