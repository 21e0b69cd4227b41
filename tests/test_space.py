"""The Gradio Space (space/app.py) served on 127.0.0.1, its deployment script, and its Space metadata.

The app is launched in this process with a model and an example dataset pushed to the local Hub; every expected
value is computed by calling the package's pipeline directly on the same images.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import gradio
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import Status
from huggingface_hub import HfApi, SpaceCard
from model_factory import astronaut
from packaging.requirements import Requirement
from PIL import Image, ImageEnhance, ImageOps

from deepfake_detection import load_pipeline
from deepfake_detection.dataset import build_dataset
from deepfake_detection.dataset_release import push_dataset
from deepfake_detection.hub import DATASET_ENV, MODEL_ENV, push_folder
from deepfake_detection.images import MAX_PIXELS
from deepfake_detection.outputs import NO_FACE_IN_VIDEO_MESSAGE, NO_FACE_MESSAGE
from deepfake_detection.video import MAX_FRAMES
from hub_server import free_port

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-5


def load_script(name: str, path: Path):
    """Import a file that is not in a package (space/app.py, scripts/*.py) as a module, its folder on `sys.path` as
    when it is run (space/app.py imports space/uploads.py)."""
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


space_app = load_script("space_app", ROOT / "space" / "app.py")


@pytest.fixture(autouse=True)
def _no_unhandled_hub_routes(_local_hub_server):
    """Fail a test whose Hub calls (the app's included) hit a route the local Hub does not implement."""
    _local_hub_server.unhandled.clear()
    yield
    assert _local_hub_server.unhandled == []


def face_images() -> list[Image.Image]:
    """Eight different images of one face (flips, scales, crops, colour, rotation): eight different scores."""
    base = astronaut()
    return [
        base,
        ImageOps.mirror(base),
        base.resize((640, 640)),
        base.resize((400, 400)),
        base.crop((60, 0, 512, 452)),
        ImageEnhance.Brightness(base).enhance(1.4),
        ImageEnhance.Color(base).enhance(0.2),
        base.rotate(8, resample=Image.BILINEAR),
    ]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for index, image in enumerate(face_images()):
        paths.append(folder / f"face_{index}.png")
        image.save(paths[-1])
    return paths


@pytest.fixture(scope="module")
def no_face(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("no_face") / "sky.png"
    Image.new("RGB", (320, 240), (120, 160, 220)).save(path)
    return path


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """RGB frames written with OpenCV as an MJPG .avi (every frame a key frame)."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write MJPG to .avi here"
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Eight frames of one face (the astronaut's) sliding right across a grey canvas: one person, eight scores."""
    face = np.asarray(astronaut().crop((140, 20, 340, 220)).resize((160, 160)))
    frames = []
    for step in range(8):
        frame = np.full((360, 640, 3), 90, np.uint8)
        frame[100:260, 20 + 40 * step : 180 + 40 * step] = face
        frames.append(frame)
    return write_clip(tmp_path_factory.mktemp("video") / "clip.avi", frames)


@pytest.fixture(scope="module")
def detector(model_dir: Path):
    """The pipeline called directly: the reference for every result the app returns."""
    return load_pipeline(model_dir)


@pytest.fixture(scope="module")
def hub_repos(_local_hub_server, model_dir: Path, tmp_path_factory) -> dict:
    """The model and a 3-image example dataset (real astronaut, fake mirrored astronaut, real no-face) on the Hub."""
    model_id = f"org/space-model-{uuid.uuid4().hex[:8]}"
    push_folder(model_dir, model_id)
    folder = tmp_path_factory.mktemp("examples")
    astronaut().save(folder / "real_astronaut.png")
    ImageOps.mirror(astronaut()).save(folder / "fake_mirrored.png")
    Image.new("RGB", (200, 150), "gray").save(folder / "real_blank.png")
    examples = build_dataset(folder)
    dataset_id = f"org/space-examples-{uuid.uuid4().hex[:8]}"
    push_dataset(examples, dataset_id)
    table = examples.dataset["test"]
    return {"model": model_id, "dataset": dataset_id, "examples": table}


@pytest.fixture(scope="module")
def app_detector(hub_repos: dict):
    """The pipeline inside the served app, loaded from the Hub repo (a different instance from `detector`)."""
    return load_pipeline(hub_repos["model"])


@pytest.fixture(scope="module")
def space_url(hub_repos: dict, app_detector):
    demo = space_app.build_app(app_detector, model=hub_repos["model"], dataset=hub_repos["dataset"])
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()


def new_client(url: str) -> Client:
    return Client(url, verbose=False, analytics_enabled=False, download_files=False)


@pytest.fixture(scope="module")
def client(space_url: str) -> Client:
    return new_client(space_url)


def assert_same_result(actual: dict, expected: dict) -> None:
    """The app's JSON equals the pipeline's result: verdict, and per face box, probabilities and label."""
    assert actual["label"] == expected["label"]
    assert actual["num_faces"] == expected["num_faces"] == len(actual["faces"])
    for face, reference in zip(actual["faces"], expected["faces"]):
        assert face["box"] == pytest.approx(reference["box"], abs=1e-2)
        assert face["score"] == pytest.approx(reference["score"], abs=TOLERANCE)
        assert face["probabilities"]["real"] == pytest.approx(reference["probabilities"]["real"], abs=TOLERANCE)
        assert face["probabilities"]["fake"] == pytest.approx(reference["probabilities"]["fake"], abs=TOLERANCE)
        assert face["label"] == reference["label"]


def assert_same_video(actual: dict, expected) -> None:
    """The app's video JSON equals the pipeline's `VideoResult`: verdicts, each person over time, every face."""
    assert actual["label"] == expected.label and actual["num_tracks"] == expected.num_tracks == len(actual["tracks"])
    assert actual["fake_probability"] == pytest.approx(expected.fake_probability, abs=TOLERANCE)
    assert actual["frames_sampled"] == expected.frames_sampled == len(actual["frames"])
    for frame, reference in zip(actual["frames"], expected.frames, strict=True):
        assert (frame["index"], frame["track_ids"]) == (reference.index, reference.track_ids)
        for face, face_reference in zip(frame["faces"], reference.faces, strict=True):
            assert face["box"] == pytest.approx(face_reference.box, abs=1e-2)
            assert face["score"] == pytest.approx(face_reference.score, abs=TOLERANCE)
            assert face["label"] == face_reference.label
    for track, reference in zip(actual["tracks"], expected.tracks, strict=True):
        assert track["frame_indices"] == reference.frame_indices and track["label"] == reference.label
        assert track["fake_probabilities"] == pytest.approx(reference.fake_probabilities, abs=TOLERANCE)
        assert track["probabilities"]["fake"] == pytest.approx(reference.probabilities["fake"], abs=TOLERANCE)


def test_analyze_endpoint_returns_the_pipelines_result_per_face(client, detector, images):
    expected = detector(Image.open(images[0]))
    result = client.predict(handle_file(str(images[0])), 0.7, api_name="/analyze")
    assert result["num_faces"] == 1 and result["threshold"] == 0.7
    assert set(result["faces"][0]) == {"box", "detection_confidence", "landmarks", "score", "probabilities", "label"}
    assert_same_result(result, expected)
    assert result["fake_probability"] == pytest.approx(expected["fake_probability"], abs=TOLERANCE)


def test_threshold_relabels_without_changing_probabilities(client, detector, images):
    expected = detector(Image.open(images[0]))
    score = expected["faces"][0]["score"]
    config = detector.model.config
    for threshold in (round(score - 0.05, 2), round(score + 0.05, 2)):
        result = client.predict(handle_file(str(images[0])), threshold, api_name="/analyze")
        assert result["faces"][0]["label"] == config.label_for(score, threshold)
        assert result["faces"][0]["probabilities"]["real"] == pytest.approx(score, abs=TOLERANCE)
    labels = {config.label_for(score, round(score - 0.05, 2)), config.label_for(score, round(score + 0.05, 2))}
    assert labels == {"real", "fake"}


def test_no_face_gives_the_clear_message(client, no_face):
    result = client.predict(handle_file(str(no_face)), 0.7, api_name="/analyze")
    assert result["faces"] == [] and result["num_faces"] == 0 and result["label"] is None
    assert result["message"] == NO_FACE_MESSAGE


def test_faces_too_small_to_judge_are_boxed_in_grey_and_named_in_the_summary():
    from deepfake_detection import DeepfakeDetectorConfig
    from deepfake_detection.modeling_deepfake_detector import FaceVerdict
    from deepfake_detection.outputs import FaceResult, ImageResult, TooSmallFace

    config = DeepfakeDetectorConfig()
    large = FaceResult(**FaceVerdict.from_score(0.9, config), box=[10.0, 10.0, 120.0, 140.0], detection_confidence=1.0)
    tiny = TooSmallFace(box=[200.0, 20.0, 230.0, 56.0], width=30.0, detection_confidence=0.97)
    mixed = ImageResult.from_faces([large], too_small=[tiny], min_judged_face=96)
    summary = space_app.verdict_markdown(mixed, config, 0.7, "org/model")
    assert summary.startswith("## Verdict: REAL") and "1 face too small to judge (grey boxes)" in summary
    image, boxes = space_app.annotated_image(Image.new("RGB", (300, 200)), 1.0, mixed).value.values()
    captions = [box["label"] for box in boxes]
    assert captions[1] == "Too small to judge (30 px wide)" and len(captions) == 2
    only_tiny = ImageResult.from_faces([], too_small=[tiny], min_judged_face=96)
    summary = space_app.verdict_markdown(only_tiny, config, 0.7, "org/model")
    assert summary.startswith("### No verdict: every face is too small to judge") and only_tiny.message in summary
    assert space_app.verdict_markdown(ImageResult.from_faces([]), config, 0.7, "m").startswith("### No face detected")


def test_bad_images_and_thresholds_get_plain_messages(client, images, tmp_path):
    with pytest.raises(AppError, match="threshold must be a number strictly between 0 and 1"):
        client.predict(handle_file(str(images[0])), 1.5, api_name="/analyze")

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not an image")
    with pytest.raises(AppError) as error:
        client.predict(handle_file(str(broken)), 0.7, api_name="/analyze")
    assert "broken.png: not a readable image" in str(error.value) and "Traceback" not in str(error.value)
    assert str(tmp_path) not in str(error.value)

    side = int((MAX_PIXELS + 1_000_000) ** 0.5)
    huge = tmp_path / "huge.png"
    Image.new("L", (side, side)).save(huge)
    with pytest.raises(AppError) as error:
        client.predict(handle_file(str(huge)), 0.7, api_name="/analyze")
    assert f"{side}x{side} pixels" in str(error.value)
    assert f"up to {MAX_PIXELS / 1e6:.0f} megapixels" in str(error.value)


def test_concurrent_clients_each_get_their_own_result(space_url, detector, images):
    expected = detector([Image.open(path) for path in images])
    scores = [result["faces"][0]["score"] for result in expected]
    assert len({round(score, 4) for score in scores}) == len(images)  # a mix-up would show

    def analyse(path: Path) -> dict:
        return new_client(space_url).predict(handle_file(str(path)), 0.7, api_name="/analyze")

    with ThreadPoolExecutor(max_workers=len(images)) as pool:
        results = list(pool.map(analyse, images))
    for result, reference in zip(results, expected):
        assert_same_result(result, reference)


def test_analyze_video_endpoint_returns_the_pipelines_result_per_person_and_frame(client, detector, clip):
    result = client.predict(handle_file(str(clip)), 0.7, 6, "mean", api_name="/analyze_video")
    expected = detector.analyse_video(clip, num_frames=6, threshold=0.7)
    assert result["frames_sampled"] == 6 and result["num_tracks"] == 1 and result["frames_without_faces"] == 0
    assert result["threshold"] == 0.7 and result["aggregation"] == "mean"
    fake = expected.tracks[0].fake_probabilities
    assert len({round(value, 4) for value in fake}) == len(fake) == 6  # every frame scores differently: a mix-up shows
    assert_same_video(result, expected)

    by_max = client.predict(handle_file(str(clip)), 0.7, 6, "max", api_name="/analyze_video")
    assert by_max["aggregation"] == "max"
    assert by_max["tracks"][0]["probabilities"]["fake"] == pytest.approx(max(fake), abs=TOLERANCE)


def test_bad_videos_and_video_settings_get_plain_messages(client, clip, images, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video")
    with pytest.raises(AppError) as error:
        client.predict(handle_file(str(broken)), 0.7, 8, "mean", api_name="/analyze_video")
    assert "broken.mp4: not a readable video" in str(error.value) and "Traceback" not in str(error.value)
    assert str(tmp_path) not in str(error.value)
    with pytest.raises(AppError, match="face_0.png: not a video file"):
        client.predict(handle_file(str(images[0])), 0.7, 8, "mean", api_name="/analyze_video")
    with pytest.raises(AppError, match=f"number of frames must be a whole number from 1 to {MAX_FRAMES}"):
        client.predict(handle_file(str(clip)), 0.7, MAX_FRAMES + 1, "mean", api_name="/analyze_video")
    with pytest.raises(AppError, match="aggregation must be one of"):
        client.predict(handle_file(str(clip)), 0.7, 8, "average", api_name="/analyze_video")
    with pytest.raises(AppError, match="threshold must be a number strictly between 0 and 1"):
        client.predict(handle_file(str(clip)), 1.5, 8, "mean", api_name="/analyze_video")

    grey = write_clip(tmp_path / "grey.avi", [np.full((240, 320, 3), 90, np.uint8)] * 4)
    result = client.predict(handle_file(str(grey)), 0.7, 4, "mean", api_name="/analyze_video")
    assert result["label"] is None and result["tracks"] == [] and result["frames_sampled"] == 4
    assert result["frames_without_faces"] == 4 and result["message"] == NO_FACE_IN_VIDEO_MESSAGE


def test_the_video_tab_relabels_and_recombines_without_running_the_model(detector, clip, monkeypatch):
    handlers = space_app.Handlers(space_app.ModelLoader(detector=detector), None, None)
    steps = []
    _, key = handlers.analyze_video({"path": str(clip), "orig_name": "clip.avi"}, 0.7, 8, "mean",
                                    progress=lambda *args, **kwargs: steps.append(kwargs.get("desc")))
    assert steps and "up to 8 frames" in steps[0]
    kept = handlers.videos.get(key)  # the server keeps no heatmaps, and Grad-CAM only for the explained frames
    assert all(face.heatmap is None and face.face_overlay is None for frame in kept.frames for face in frame.faces)
    explained = [frame.index for frame in kept.suspicious_frames(space_app.EXPLAIN_FRAMES)]  # most suspicious first
    assert sorted(explained) == [frame.index for frame in kept.frames if frame.overlay is not None]

    calls = []
    forward = detector._forward
    monkeypatch.setattr(detector, "_forward", lambda *args, **kwargs: calls.append(1) or forward(*args, **kwargs))
    config, track = detector.model.config, kept.tracks[0]
    model_threshold, labels = config.threshold, set()
    for threshold in (round(track.score - 0.05, 2), round(track.score + 0.05, 2)):
        verdict, figure, gallery, table, result = handlers.show_video(key, threshold, "mean")
        label = config.label_for(track.score, threshold)
        labels.add(label)
        assert f"Video verdict: {space_app.colored(label)}" in verdict and result["tracks"][0]["label"] == label
        cut = threshold if config.score_label == "fake" else 1 - threshold
        assert figure.axes[0].lines[-1].get_ydata()[0] == pytest.approx(cut)  # the threshold line moves too
        assert [caption.split(" (")[0] for _, caption in gallery] == [f"Frame {index}" for index in explained]
        assert [row[4] for row in table["data"]] == [round(p, 4) for p in track.fake_probabilities]
    assert labels == {"real", "fake"} and config.threshold == model_threshold  # the plot drew on a copy

    *_, result = handlers.show_video(key, 0.7, "max")
    assert result["aggregation"] == "max"
    assert result["tracks"][0]["probabilities"]["fake"] == pytest.approx(max(track.fake_probabilities))
    assert calls == []  # re-labelled and recombined from the kept result
    assert handlers.show_video("no-such-key", 0.7, "mean")[0] == space_app.VIDEO_EXPIRED_MESSAGE


def test_example_gallery_comes_from_the_hub_dataset(hub_repos):
    examples = space_app.Examples(hub_repos["dataset"])
    items, note = examples.gallery()
    table = hub_repos["examples"]
    names = table.features["label"].names
    assert [caption for _, caption in items] == [names[label] for label in table["label"]]
    assert f"{len(table)} examples from `{hub_repos['dataset']}`" in note
    assert all(max(thumbnail.size) <= space_app.THUMBNAIL_SIDE for thumbnail, _ in items)
    for index, row in enumerate(table):
        assert examples.image(index).tobytes() == row["image"].convert("RGB").tobytes()

    missing = space_app.Examples(f"org/no-such-dataset-{uuid.uuid4().hex[:8]}")
    items, note = missing.gallery()
    assert items == [] and note.startswith("Examples unavailable") and "Upload an image instead" in note


def test_one_unreadable_example_is_left_out_of_the_gallery_not_the_whole_gallery(tmp_path):
    folder = tmp_path / "examples"
    folder.mkdir()
    colours = {"real_a.png": (200, 40, 40), "fake_c.png": (40, 200, 40)}
    for name, colour in colours.items():
        Image.new("RGB", (64, 48), colour).save(folder / name)
    (folder / "fake_b.png").write_bytes(b"\x89PNG not really")
    examples = space_app.Examples(str(folder))
    items, note = examples.gallery()
    assert len(items) == 2 and "2 examples from" in note and "1 unreadable left out" in note
    shown = [examples.image(index).getpixel((0, 0)) for index in range(len(items))]
    assert sorted(shown) == sorted(colours.values())


def test_evaluation_tab_reads_the_model_repos_eval_folder_or_runs_here(hub_repos, model_dir, detector, tmp_path):
    from deepfake_detection.evaluation import evaluate
    from deepfake_detection.plots import PLOT_FILES

    assert set(space_app.PLOTS) <= set(PLOT_FILES)  # the tab shows plots the package writes
    model_id = f"org/space-eval-{uuid.uuid4().hex[:8]}"
    push_folder(model_dir, model_id)
    examples = space_app.Examples(hub_repos["dataset"])

    status, table, metrics, confusion, roc, _ = space_app.EvaluationResults(model_id, None, examples).view()
    assert status.startswith("**No evaluation results yet**") and metrics is None and confusion is None

    published = evaluate(
        model_id, hub_repos["dataset"], output_dir=tmp_path / "published", push_to_hub=True, progress=False
    )
    status, table, metrics, confusion, roc, _ = space_app.EvaluationResults(model_id, None, examples).view()
    assert metrics["accuracy"] == published.metrics["accuracy"] and metrics["n"] == len(hub_repos["examples"])
    assert f"| Accuracy | {published.metrics['accuracy']:.3f} |" in table
    assert Path(confusion).name == PLOT_FILES["confusion_matrix"] and Image.open(confusion).size[0] > 100
    assert Path(roc).name == PLOT_FILES["roc_curve"]

    local = space_app.EvaluationResults(str(model_dir), None, examples)
    assert local.view()[2] is None
    calls = []
    status, table, metrics, *_ = local.run(detector, lambda *args, **kwargs: calls.append(args))
    assert status.startswith("Results `run here on") and calls
    assert metrics["accuracy"] == published.metrics["accuracy"]
    assert local.run(detector, lambda *args, **kwargs: calls.append(args))[2] == metrics and len(calls) == 1  # cached


def threshold_slider(demo: gradio.Blocks) -> gradio.Slider:
    return next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "threshold")


@pytest.fixture
def no_gradio_analytics(monkeypatch):
    """Gradio's launch analytics go to $HF_ENDPOINT (the local Hub, which has no such route): off for in-test launches."""
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")


def test_a_request_sent_before_the_model_has_loaded_waits_for_it(
    model_dir, detector, images, tmp_path, no_gradio_analytics
):
    folder = shutil.copytree(model_dir, tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "threshold": 0.55}))
    loader = space_app.ModelLoader(str(folder))  # not started: the model cannot be there before the request
    demo = space_app.build_app(loader, prefetch=False)
    assert threshold_slider(demo).value == 0.55  # the page shows the config's threshold before the model loads
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = new_client(url)
        analyze = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/analyze"]
        assert analyze["parameters"][1]["parameter_default"] == 0.55
        job = client.submit(handle_file(str(images[2])), api_name="/analyze")  # threshold left to its default
        deadline = time.monotonic() + 60
        while job.status().code != Status.PROCESSING and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job.status().code == Status.PROCESSING and not job.done()  # in the handler, waiting for the model
        loader.start()
        result = job.result(timeout=120)
    finally:
        demo.close()
    expected = detector(Image.open(images[2]), threshold=0.55)  # same weights as the app's model
    assert result["threshold"] == 0.55
    assert_same_result(result, expected)


def test_a_model_that_cannot_load_gets_a_message_and_the_command_exits_2(
    images, model_dir, tmp_path, capsys, no_gradio_analytics
):
    broken = tmp_path / "no-weights"
    broken.mkdir()
    shutil.copy(model_dir / "config.json", broken / "config.json")  # the page can be built, the model cannot load
    loader = space_app.ModelLoader(str(broken))
    demo = space_app.build_app(loader, prefetch=False)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        loader.start()
        with pytest.raises(AppError, match="The model is not available: Could not load the model"):
            new_client(url).predict(handle_file(str(images[0])), 0.7, api_name="/analyze")
    finally:
        demo.close()

    assert space_app.main(["--model", str(broken), "--port", str(free_port())]) == 2
    assert f"error: Could not load the model '{broken}'" in capsys.readouterr().err


def test_the_app_defaults_to_the_packages_model_dataset_and_revision(monkeypatch):
    from deepfake_detection import hub

    monkeypatch.delenv(hub.MODEL_ENV, raising=False)
    monkeypatch.delenv(hub.DATASET_ENV, raising=False)
    assert space_app.model_loader().model == str(hub.BUNDLED_MODEL_DIR)  # offline default: the bundled model
    assert space_app.Examples(None).dataset_id == hub.DEFAULT_DATASET_ID
    monkeypatch.setenv(hub.MODEL_ENV, "org/from-env")
    monkeypatch.setenv(hub.REVISION_ENV, "v1")
    monkeypatch.setenv(hub.DATASET_ENV, "org/examples-from-env")
    loader = space_app.model_loader()
    assert (loader.model, loader.revision) == ("org/from-env", "v1")
    assert space_app.Examples(None).dataset_id == "org/examples-from-env"
    given = space_app.model_loader("org/given", "v2")
    assert (given.model, given.revision) == ("org/given", "v2")


def test_the_page_is_built_without_importing_torch_or_transformers(model_dir):
    """What start-up does before the server answers (the model loads afterwards) needs neither torch nor transformers:
    the app imports only the package's light modules (defaults, errors, image loading)."""
    script = f"""
import importlib.util, sys
sys.path.insert(0, {str(ROOT / "space")!r})  # as when app.py is run: it imports uploads.py beside it
spec = importlib.util.spec_from_file_location("space_app", {str(ROOT / "space" / "app.py")!r})
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
demo = app.build_app(app.ModelLoader({str(model_dir)!r}), prefetch=False)
print(sorted(name for name in ("torch", "transformers", "sklearn", "datasets") if name in sys.modules))
"""
    environment = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    done = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def wait_until_ready(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            raise AssertionError(f"the app exited with {process.returncode}: {process.stdout.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise AssertionError(f"the app did not answer on {url} within {timeout} s")


def test_app_starts_offline_from_a_local_model_folder(model_dir, detector, images):
    port = free_port()
    environment = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    command = [sys.executable, str(ROOT / "space" / "app.py"), "--model", str(model_dir), "--port", str(port)]
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_ready(url, process)
        result = new_client(url).predict(handle_file(str(images[1])), 0.7, api_name="/analyze")
        assert_same_result(result, detector(Image.open(images[1])))
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_deploy_space_creates_the_space_repo_with_its_files_and_variables(hub_repos):
    deploy = load_script("deploy_space", ROOT / "scripts" / "deploy_space.py")
    space_id = f"org/space-{uuid.uuid4().hex[:8]}"
    argv = ["--space-id", space_id, "--model", hub_repos["model"], "--dataset", hub_repos["dataset"]]
    assert deploy.main(argv) == 0
    api = HfApi()
    files = set(api.list_repo_files(space_id, repo_type="space"))
    package = {f"deepfake_detection/{path.name}" for path in (ROOT / "modeling" / "deepfake_detection").glob("*.py")}
    assert {"app.py", "uploads.py", "requirements.txt", "README.md"} | package <= files
    assert not any("__pycache__" in path for path in files)

    card = SpaceCard.load(space_id, repo_type="space")
    assert card.data.sdk == "gradio" and card.data.app_file == "app.py"
    assert card.data.sdk_version == SpaceCard.load(ROOT / "space" / "README.md").data.sdk_version
    assert card.data.models == [hub_repos["model"]] and card.data.datasets == [hub_repos["dataset"]]
    assert api.space_info(space_id).sdk == "gradio"
    variables = {key: value.value for key, value in api.get_space_variables(space_id).items()}
    assert variables == {MODEL_ENV: hub_repos["model"], DATASET_ENV: hub_repos["dataset"]}

    assert deploy.main(argv) == 0  # a second deploy updates the existing Space
    assert deploy.main(["--space-id", space_id, "--model", str(ROOT)]) == 2  # a local folder cannot be deployed


def test_space_metadata_pins_one_gradio_and_the_packages_dependencies():
    """The Space runs README's `sdk_version`; requirements.txt must pin that same Gradio (else the build installs two
    versions or fails), within the range the package's `space` extra declares the app works with."""
    card = SpaceCard.load(ROOT / "space" / "README.md")
    assert card.data.sdk == "gradio"
    assert (ROOT / "space" / card.data.app_file).is_file()
    assert card.data.python_version and card.data.license and card.data.models and card.data.datasets
    assert 0 < len(card.data.short_description) <= 60

    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11+")
    lines = (ROOT / "space" / "requirements.txt").read_text().splitlines()
    required = {Requirement(line).name.lower(): Requirement(line) for line in lines if line and line[0].isalnum()}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dependency in map(Requirement, project["dependencies"]):
        assert dependency.name.lower() in required, f"{dependency.name} missing from space/requirements.txt"
        assert required[dependency.name.lower()].specifier == dependency.specifier, dependency.name
    assert str(required["gradio"].specifier) == f"=={card.data.sdk_version}"
    extra = next(Requirement(line) for line in project["optional-dependencies"]["space"] if line.startswith("gradio"))
    assert extra.specifier.contains(card.data.sdk_version), f"sdk_version {card.data.sdk_version} is outside {extra}"


def test_the_api_is_the_one_the_space_card_documents(space_url, detector, images, clip):
    """The README's client snippet (an image, then a video) runs against the app and gets the documented fields;
    only /analyze and /analyze_video are public."""
    readme = (ROOT / "space" / "README.md").read_text()
    snippet = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert '"OWNER/SPACE"' in snippet and '"photo.jpg"' in snippet and '"clip.mp4"' in snippet
    snippet = snippet.replace('"OWNER/SPACE"', repr(space_url)).replace('"photo.jpg"', repr(str(images[0])))
    snippet = snippet.replace('"clip.mp4"', repr(str(clip)))
    namespace = {}
    exec(compile(snippet, "space/README.md", "exec"), namespace)  # noqa: S102 - the project's own README
    result, face = namespace["result"], namespace["face"]
    assert_same_result(result, detector(Image.open(images[0]), threshold=0.7))
    assert face == result["faces"][-1] and result["threshold"] == 0.7
    video, person, frame = namespace["video"], namespace["person"], namespace["frame"]
    assert_same_video(video, detector.analyse_video(clip, num_frames=32, threshold=0.7))
    assert video["frames_sampled"] == 8 and person == video["tracks"][-1] and frame == video["frames"][-1]

    api = namespace["client"].view_api(print_info=False, return_format="dict")
    assert list(api["named_endpoints"]) == ["/analyze", "/analyze_video"] and api["unnamed_endpoints"] == {}
    assert [parameter["label"] for parameter in api["named_endpoints"]["/analyze"]["parameters"]] == [
        "Image", "Threshold"
    ]
    video_parameters = api["named_endpoints"]["/analyze_video"]["parameters"]
    assert [(parameter["parameter_name"], parameter.get("parameter_default")) for parameter in video_parameters] == [
        ("video", None), ("threshold", detector.model.config.threshold), ("num_frames", 32), ("aggregation", "mean")
    ]


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is missing: apt-get install chromium")
def test_browser_upload_threshold_and_example_show_the_verdict(space_url, app_detector, detector, images, hub_repos,
                                                                monkeypatch):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    screenshot = load_script("screenshot_space", ROOT / "scripts" / "screenshot_space.py")
    config = detector.model.config
    expected = detector(Image.open(images[0]))
    score = expected["faces"][0]["score"]
    flip = round(score + 0.05, 2) if expected["label"] == config.score_label else round(score - 0.05, 2)
    first_example = detector(hub_repos["examples"][0]["image"])
    forward_calls = []
    original_forward = app_detector._forward
    monkeypatch.setattr(app_detector, "_forward", lambda *a, **k: forward_calls.append(1) or original_forward(*a, **k))

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), headless=True, args=screenshot.CHROMIUM_FLAGS
        )
        page = browser.new_page()
        page.goto(space_url)
        verdict = page.locator("#verdict")
        page.locator("input[type=file]").first.set_input_files(str(images[0]))
        sync_api.expect(verdict).to_contain_text(f"Verdict: {expected['label'].upper()}", timeout=60_000)
        sync_api.expect(verdict).to_contain_text(f"P(fake) = {expected['fake_probability']:.3f}")
        sync_api.expect(page.get_by_text("Face 1 Grad-CAM")).to_be_visible()
        assert len(forward_calls) == 1

        page.locator("#threshold input[type=number]").fill(str(flip))
        page.locator("#threshold input[type=number]").press("Enter")
        relabelled = config.label_for(score, flip)
        assert relabelled != expected["label"]
        sync_api.expect(verdict).to_contain_text(f"Verdict: {relabelled.upper()}", timeout=30_000)
        sync_api.expect(verdict).to_contain_text(f"> {flip:.2f}")
        assert len(forward_calls) == 1  # re-labelled without running the model

        page.locator("#examples .thumbnail-item").first.click()
        sync_api.expect(verdict).to_contain_text(f"P(fake) = {first_example['fake_probability']:.3f}", timeout=60_000)
        browser.close()


@pytest.mark.parametrize("threshold", ["abc", [0.5]])
def test_a_non_numeric_threshold_gets_the_packages_message(client, images, threshold):
    with pytest.raises(AppError, match="threshold must be a number strictly between 0 and 1"):
        client.predict(handle_file(str(images[0])), threshold, api_name="/analyze")


def test_the_server_keeps_a_bounded_number_of_results_and_sessions_hold_only_a_key():
    recent = space_app.RecentResults(capacity=3)
    keys = [recent.add({"image": index}) for index in range(5)]
    assert len(recent) == 3 and all(isinstance(key, str) and len(key) == 32 for key in keys)
    assert recent.get(keys[0]) is None and recent.get(keys[-1]) == {"image": 4}
    assert space_app.STATE_TTL_S <= 900


def test_uploads_and_generated_images_are_deleted_after_a_bounded_time(model_dir, monkeypatch):
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")  # building the app alone would report to gradio's server
    demo = space_app.build_app(load_pipeline(model_dir), prefetch=False)
    frequency, age = demo.delete_cache
    assert (frequency, age) == space_app.CACHE_CLEANUP and age <= 3600


def stopped_instance(root: Path, name: str = "instance-killed") -> Path:
    """The folder an instance killed with SIGKILL leaves: its lock file (held by nobody now) and an upload."""
    folder = root / "deepfake-detection-space" / name
    (folder / "0a1b2c").mkdir(parents=True)
    (folder / ".running.lock").touch()
    (folder / "0a1b2c" / "photo.jpg").write_bytes(b"a visitor's photo")
    return folder


def test_uploads_are_removed_at_stop_and_a_stopped_instances_at_start_never_anything_else(tmp_path, monkeypatch):
    import fcntl

    import uploads

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "user-choice"))
    stopped = stopped_instance(tmp_path)
    running = stopped_instance(tmp_path, "instance-running")
    unrelated = [tmp_path / "other-app" / "photo.jpg", tmp_path / "deepfake-detection-space" / "notes.txt"]
    for path in unrelated:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not the app's uploads")
    with open(running / ".running.lock", "a+b") as held:  # another instance of the app, still serving
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with uploads.instance_uploads(tmp_path) as folder:
            assert os.environ["GRADIO_TEMP_DIR"] == str(folder) and folder.parent == tmp_path / uploads.APP_FOLDER
            assert not stopped.exists() and running.exists()
            (folder / "0a1b2c").mkdir()
            (folder / "0a1b2c" / "photo.jpg").write_bytes(b"an upload")
        assert not folder.exists() and os.environ["GRADIO_TEMP_DIR"] == str(tmp_path / "user-choice")
        assert running.exists() and all(path.exists() for path in unrelated)
        with pytest.raises(KeyError), uploads.instance_uploads(tmp_path) as folder:  # a crash inside the app
            raise KeyError("boom")
        assert not folder.exists()
    assert uploads.remove_stopped(tmp_path / uploads.APP_FOLDER) == [running]  # its instance let go of it


def test_the_app_removes_its_uploads_on_sigterm(model_dir, images, tmp_path):
    import signal

    gradio_folder = tmp_path / "gradio"
    stopped = stopped_instance(gradio_folder)
    (gradio_folder / "other-app.txt").write_text("not the app's")
    port = free_port()
    environment = {**os.environ, "GRADIO_TEMP_DIR": str(gradio_folder), "GRADIO_ANALYTICS_ENABLED": "False"}
    command = [sys.executable, str(ROOT / "space" / "app.py"), "--model", str(model_dir), "--port", str(port)]
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/", process)
        assert not stopped.exists()  # what a killed instance left is gone at start-up
        new_client(f"http://127.0.0.1:{port}/").predict(handle_file(str(images[0])), 0.7, api_name="/analyze")
        app_folder = gradio_folder / "deepfake-detection-space"
        assert list(app_folder.glob(f"instance-*/**/{images[0].name}"))  # the upload is in this instance's folder
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output[-2000:]
    assert list(app_folder.iterdir()) == [] and (gradio_folder / "other-app.txt").exists()


def test_the_video_verdict_says_what_the_file_did_not_deliver(detector):
    from deepfake_detection import VideoResult

    config = detector.model.config
    notice = "The file's header says 200 frames, but 20 could be decoded (a damaged or edited file): ..."
    shown = space_app.video_verdict_markdown(VideoResult.from_frames([], config, notice=notice), config, 0.5, "m")
    assert shown.endswith(f"\n\n**Note:** {notice}")
    assert "Note" not in space_app.video_verdict_markdown(VideoResult.from_frames([], config), config, 0.5, "m")
