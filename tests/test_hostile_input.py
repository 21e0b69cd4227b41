"""Hostile but realistic input on every surface: each defect found by trying it has a test here, plus property tests.

Every input gives a result or the package's own error, with a reason that says what to do; a batch never stops.
"""

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_factory import astronaut
from PIL import Image

from deepfake_detection import ImageLoadError, ModelNotAvailableError, load_image, load_pipeline
from deepfake_detection import images as images_module
from deepfake_detection.cli import main
from deepfake_detection.images import MAX_PIXELS

PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def detector(model_dir):
    return load_pipeline(model_dir)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deepfake_detection.cli", *args],
                          capture_output=True, text=True, timeout=300, env=os.environ.copy())


# 1. A damaged model: one paragraph and exit 2, never a stack trace -------------------------------------------------

def damaged_copies(model_dir, tmp_path) -> dict:
    truncated, random_bytes, bad_config = (tmp_path / name for name in ("truncated", "random", "bad-config"))
    for folder in (truncated, random_bytes, bad_config):
        shutil.copytree(model_dir, folder)
    weights = (model_dir / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(weights[: len(weights) // 3])
    (random_bytes / "model.safetensors").write_bytes(np.random.default_rng(0).bytes(4096))
    config = json.loads((bad_config / "config.json").read_text())
    (bad_config / "config.json").write_text(json.dumps({**config, "threshold": "abc"}))
    return {"truncated": truncated, "random": random_bytes, "bad config": bad_config}


def test_a_damaged_model_gives_one_paragraph_and_exit_2(model_dir, tmp_path):
    (tmp_path / "data").mkdir()
    astronaut().save(tmp_path / "data" / "real_face.png")
    for name, folder in damaged_copies(model_dir, tmp_path).items():
        with pytest.raises(ModelNotAvailableError, match="Could not load the model"):
            load_pipeline(folder)
        data = str(tmp_path / "data")
        for command in (["predict", data], ["evaluate", "--dataset", data, "--output-dir", str(tmp_path / "out")]):
            completed = run_cli(*command, "--model", str(folder))
            assert completed.returncode == 2, (name, command, completed.stderr[-2000:])
            assert "Traceback" not in completed.stderr and "Could not load the model" in completed.stderr, name


# 2. 16-bit and float images are scaled, not clipped to white ------------------------------------------------------

def test_16_bit_images_and_arrays_keep_their_picture(detector, tmp_path):
    grey = np.asarray(astronaut().convert("L"), dtype=np.uint16) * 257
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    expected = np.asarray(astronaut().convert("L"))
    loaded = np.asarray(load_image(tmp_path / "grey16.png"))[..., 0]
    assert np.abs(loaded.astype(int) - expected).max() <= 1
    rgb16 = np.asarray(astronaut(), dtype=np.uint16) * 257
    assert np.abs(np.asarray(load_image(rgb16)).astype(int) - np.asarray(astronaut())).max() <= 1
    floats = np.asarray(astronaut(), dtype=np.float32) / 255
    assert np.abs(np.asarray(load_image(floats)).astype(int) - np.asarray(astronaut())).max() <= 1
    assert detector(str(tmp_path / "grey16.png"))["num_faces"] == 1


# 3. A URL that never answers times out --------------------------------------------------------------------------

def test_a_url_that_never_answers_times_out(detector, monkeypatch):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)  # accepts connections, never answers
    url = f"http://127.0.0.1:{server.getsockname()[1]}/face.jpg"
    try:
        with pytest.raises(ImageLoadError, match="no answer within 0.5 s"):
            detector(url, timeout=0.5)
        monkeypatch.setattr(images_module, "DEFAULT_TIMEOUT_S", 0.5)
        with pytest.raises(ImageLoadError, match="no answer within 0.5 s"):
            load_image(url)  # no timeout given: the default applies
    finally:
        server.close()


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/face.jpg", "http://bad host/face.jpg", "http://127.0.0.1:9/x"])
def test_malformed_and_unreachable_urls_get_the_packages_error(url):
    with pytest.raises(ImageLoadError, match="could not download"):
        load_image(url, timeout=2)


# 4. One bad item never aborts a list ------------------------------------------------------------------------------

def test_any_bad_item_in_a_list_gets_its_own_error(detector, tmp_path):
    astronaut().save(tmp_path / "face.jpg")
    data = (tmp_path / "face.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    lazy_truncated = Image.open(tmp_path / "truncated.jpg")  # opened, not decoded: fails later
    inputs = [lazy_truncated, np.array([[object()]], dtype=object), astronaut(), np.zeros((0, 5, 3), np.uint8)]
    truncated, objects, face, empty = detector(inputs, batch_size=4)
    assert "not a readable image" in truncated["error"]
    assert "integers or floats" in objects["error"]
    assert "not empty" in empty["error"]
    assert face["num_faces"] == 1


def test_a_failure_while_analysing_one_image_spares_the_others(detector, monkeypatch):
    detect = detector.face_detector._detect_boxes

    def fail_on_tiny(image):
        if image.size == (64, 64):
            raise RuntimeError("simulated detector failure")
        return detect(image)

    monkeypatch.setattr(detector.face_detector, "_detect_boxes", fail_on_tiny)
    first, failed, last = detector([astronaut(), Image.new("RGB", (64, 64)), astronaut()], batch_size=3)
    assert first["num_faces"] == last["num_faces"] == 1
    assert "simulated detector failure" in failed["error"]
    alone = detector([astronaut(), Image.new("RGB", (64, 64))], batch_size=1)  # a batch of one is isolated too
    assert alone[0]["num_faces"] == 1 and "simulated detector failure" in alone[1]["error"]
    with pytest.raises(RuntimeError, match="simulated detector failure"):
        detector(Image.new("RGB", (64, 64)))  # a single input raises its own error


# 6. A non-numeric threshold: one message everywhere --------------------------------------------------------------

@pytest.mark.parametrize("threshold", ["abc", [0.5], True, float("nan")])
def test_a_non_numeric_threshold_gets_the_one_message(detector, threshold):
    with pytest.raises(ValueError, match="threshold must be a number strictly between 0 and 1"):
        detector(astronaut(), threshold=threshold)


def test_the_cli_refuses_a_non_numeric_threshold_with_the_same_message(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "x.png", "--threshold", "abc"])
    assert "threshold must be a number strictly between 0 and 1, got 'abc'" in capsys.readouterr().err


# 7. A pixel limit before decoding, without raw library warnings -------------------------------------------------

def test_a_huge_image_is_refused_before_decoding_without_warnings(detector, tmp_path):
    Image.new("L", (8000, 6000)).save(tmp_path / "huge.png")  # 48 MP > 40 MP
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageLoadError, match=f"images up to {MAX_PIXELS // 1_000_000} megapixels"):
            detector(str(tmp_path / "huge.png"))
    astronaut().save(tmp_path / "face.png")
    Image.MAX_IMAGE_PIXELS, limit = 1000, Image.MAX_IMAGE_PIXELS  # PIL's own bomb check: our message, no warning
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ImageLoadError, match="too large"):
                load_image(tmp_path / "face.png")
    finally:
        Image.MAX_IMAGE_PIXELS = limit


# 8. The CLI reads URLs ------------------------------------------------------------------------------------------

@pytest.fixture
def image_server(tmp_path):
    astronaut().save(tmp_path / "face.png")
    handler = lambda *args: http.server.SimpleHTTPRequestHandler(*args, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_cli_analyses_an_image_url(model_dir, image_server, capsys):
    assert main(["predict", f"{image_server}/face.png", "--model", str(model_dir)]) == 0
    assert f"{image_server}/face.png: " in capsys.readouterr().out


# 9. Nothing is skipped without a word; an empty input is an error --------------------------------------------------

def test_broken_and_looping_links_are_named_and_an_empty_folder_is_an_error(model_dir, tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    astronaut().save(folder / "face.png")
    (folder / "broken.jpg").symlink_to(tmp_path / "missing.jpg")
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    assert main(["predict", str(folder), "--model", str(model_dir)]) == 1
    err = capsys.readouterr().err
    assert "broken.jpg: a broken or looping symbolic link" in err and "loop.jpg: a broken or looping" in err
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(tmp_path / "empty"), "--model", str(model_dir)]) == 2
    err = capsys.readouterr().err
    assert "no image or video files in this folder" in err and "nothing to analyse" in err


def test_evaluate_lists_a_broken_link_as_unreadable(model_dir, tmp_path):
    from deepfake_detection.evaluation import evaluate

    folder = tmp_path / "data"
    folder.mkdir()
    astronaut().save(folder / "real_face.png")
    (folder / "fake_broken.jpg").symlink_to(tmp_path / "missing.jpg")
    result = evaluate(str(model_dir), str(folder), output_dir=tmp_path / "out", progress=False)
    statuses = {os.path.basename(row.path): row.status for row in result.rows}
    assert statuses == {"real_face.png": "ok", "fake_broken.jpg": "unreadable"}


# Property tests: whatever comes in, a result or the package's own error --------------------------------------------

DTYPES = ["uint8", "uint16", "int8", "int32", "int64", "float16", "float32", "float64", "bool", "complex64", "object"]
MODES = ["1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "I", "F", "I;16", "LA", "PA", "RGBX"]


def random_array(draw) -> np.ndarray:
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(st.lists(st.integers(0, 40), min_size=0, max_size=4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.normal(0, draw(st.sampled_from([1.0, 300.0, 70000.0])), size=shape)
    if dtype == "object":
        return values.astype(object)
    with np.errstate(all="ignore"):
        return values.astype(dtype)


@st.composite
def hostile_inputs(draw):
    kind = draw(st.sampled_from(["bytes", "array", "pil"]))
    if kind == "bytes":
        return draw(st.binary(max_size=2048))
    if kind == "array":
        return random_array(draw)
    size = (draw(st.integers(1, 64)), draw(st.integers(1, 64)))
    return Image.new(draw(st.sampled_from(MODES)), size)


@PROPERTY_SETTINGS
@given(hostile_inputs())
def test_the_loader_returns_rgb_or_its_own_error(value):
    try:
        image = load_image(value)
    except ImageLoadError:
        return
    assert image.mode == "RGB" and image.width > 0 and image.height > 0


@PROPERTY_SETTINGS
@given(st.lists(hostile_inputs(), min_size=1, max_size=4))
def test_the_pipeline_gives_a_result_for_every_item_of_any_list(detector, values):
    results = detector(values, batch_size=2)
    assert len(results) == len(values)
    for result in results:
        assert ("error" in result) != ("message" in result or result["num_faces"] > 0)


# 10. Input files, second round: special files, multi-page TIFFs, control characters in names, overlays -------------

def test_fifos_devices_and_folders_are_named_for_what_they_are_not_missing(model_dir, tmp_path, capsys):
    from deepfake_detection import VideoLoadError
    from deepfake_detection.video import sample_frames

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # opening it would block until a writer comes: it must not be opened
    video_fifo = tmp_path / "pipe.mp4"
    os.mkfifo(video_fifo)
    for path in (fifo, "/dev/zero"):
        with pytest.raises(ImageLoadError, match=r": not a regular file \(a FIFO, socket or device\). Pass an image"):
            load_image(path)
    with pytest.raises(VideoLoadError, match=r"pipe.mp4: not a regular file \(a FIFO, socket or device\)"):
        sample_frames(video_fifo)
    with pytest.raises(ImageLoadError, match="a folder, not a file"):
        load_image(tmp_path)
    with pytest.raises(ImageLoadError, match="missing.png: no such file"):
        load_image(tmp_path / "missing.png")
    astronaut().save(tmp_path / "face.png")
    assert main(["predict", str(tmp_path), "--model", str(model_dir)]) == 1  # in a folder: named, not skipped
    assert "pipe.png: not a regular file" in capsys.readouterr().err


def test_a_multi_page_tiff_is_refused_with_what_to_do_and_a_single_page_one_is_read(tmp_path):
    face = astronaut()
    face.save(tmp_path / "pages.tif", save_all=True, append_images=[face.rotate(90), face.rotate(180)])
    with pytest.raises(ImageLoadError, match=r"pages.tif: a TIFF with several pages; .* Save the page to analyse"):
        load_image(tmp_path / "pages.tif")
    face.save(tmp_path / "single.tif")
    assert load_image(tmp_path / "single.tif").size == face.size


def test_a_newline_in_a_file_name_is_escaped_in_the_text_output(model_dir, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    astronaut().save(folder / "two\nlines.png")
    (folder / "bad\nname.jpg").write_bytes(b"not an image")
    assert main(["predict", str(folder), "--model", str(model_dir)]) == 1
    output = capsys.readouterr()
    verdicts = [line for line in output.out.splitlines() if not line.startswith("  ")]
    assert verdicts == [line for line in verdicts if line.startswith(f"{folder}/two\\nlines.png: ")] and verdicts
    errors = [line for line in output.err.splitlines() if "name.jpg" in line]
    assert len(errors) == 1 and errors[0].startswith(f"error: {folder}/bad\\nname.jpg: not a readable image")


def test_a_faceless_image_has_no_overlay_alone_or_in_a_list(detector):
    sky = Image.new("RGB", (200, 200), (120, 160, 220))
    assert detector(sky, explain=True).overlay is None
    face, faceless = detector([astronaut(), sky], explain=True)
    assert face.overlay is not None and faceless.num_faces == 0 and faceless.overlay is None
