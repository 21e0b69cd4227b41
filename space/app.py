"""The deepfake-detection Space: a Gradio app over the package's pipeline, with its model and examples on the Hub.

    python space/app.py [--model ID_OR_PATH] [--dataset ID_OR_PATH] [--revision REV] [--port N] [--share]

The model and the example dataset default to the package's (`$DEEPFAKE_DETECTION_MODEL`, `$DEEPFAKE_DETECTION_DATASET`).
Start-up evaluates nothing and does not wait for the model: the server answers as soon as gradio is imported and the
page built (the slider's threshold read from the model's `config.json`), and torch, transformers and the model load in
a background thread; requests that arrive meanwhile wait for it. The examples and evaluation results are fetched after
the model and shown once there.
API: `Client(url).predict(handle_file(path), threshold, api_name="/analyze")` returns the JSON of every face;
`Client(url).predict(handle_file(clip), threshold, num_frames, aggregation, api_name="/analyze_video")` returns a
video's JSON (every person followed through its sampled frames, and every face of every frame).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import uuid
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import gradio as gr
from PIL import Image

from deepfake_detection.errors import EvaluationError, ImageLoadError, ModelNotAvailableError, VideoLoadError
from deepfake_detection.errors import first_line
from deepfake_detection.hub import DATASET_ENV, MODEL_ENV, REVISION_ENV, is_local
from deepfake_detection.hub import default_dataset_id, default_model_id, default_revision
from deepfake_detection.images import load_image
from deepfake_detection.tracking import AGGREGATIONS, DEFAULT_TOP_K, box_text, check_aggregation
from deepfake_detection.video import DEFAULT_NUM_FRAMES, MAX_FRAMES, VIDEO_SUFFIXES, is_video
from uploads import CACHE_CLEANUP, instance_uploads

if TYPE_CHECKING:  # these modules import torch: the app imports them only once the model loads
    from deepfake_detection import DeepfakeDetectionPipeline, DeepfakeDetectorConfig, FaceResult, ImageResult
    from deepfake_detection import VideoResult
    from deepfake_detection.report import SavedResults

DISPLAY_SIDE = 1280
"""Longest side of the annotated image sent to the browser (analysis always runs at full resolution)."""
THUMBNAIL_SIDE = 256
MAX_EXAMPLES = 24
"""The gallery shows at most this many rows of the example split (each is decoded for its thumbnail)."""
CONCURRENCY = 2
"""Analyses run at once (the free Space hardware has 2 CPU cores); further requests wait in Gradio's queue."""
STATE_TTL_S = 900
"""How long a visitor's session state (only a key into `RecentResults`) is kept after its last use."""
RECENT_RESULTS = 32
"""How many analysed images (display copy, crops, Grad-CAM) the server keeps for re-labelling, over all visitors."""
COLORS = {"real": "#2e7d32", "fake": "#c62828"}
TOO_SMALL_COLOR = "#9e9e9e"
"""The box colour of faces too small to judge: found, shown, never scored."""
MARKS = {"real": "🟢", "fake": "🔴"}
"""The verdict colours in markdown (which strips inline styles): the boxes' green and red."""
PLOTS = {"confusion_matrix": "Confusion matrix", "roc_curve": "ROC curve"}
"""The plots the Evaluation tab shows (names in `deepfake_detection.report.PLOT_FILES`) and their labels."""
EXPIRED_MESSAGE = "This result is no longer kept on the server: analyse the image again to change the threshold."
EXPLAIN_FRAMES = 4
"""A video's most suspicious frames that get Grad-CAM (every sampled frame is scored; only these are explained)."""
RECENT_VIDEOS = 8
"""How many analysed videos (frames' faces and the explained frames' overlays) the server keeps for re-labelling."""
VIDEO_EXPIRED_MESSAGE = "This result is no longer kept on the server: analyse the video again to change the threshold."


def upload_error(error: Exception | str, path: str, name: str | None) -> gr.Error:
    """The package's one-line reason an upload cannot be analysed, naming the visitor's file, not the server's copy."""
    message = str(error).replace(str(path), name or Path(path).name)
    return gr.Error(message, duration=None, print_exception=False)


def read_upload(path: str, name: str | None = None) -> Image.Image:
    """Open an upload as an RGB image, or raise `gr.Error` saying why it cannot be analysed (the package's reason)."""
    try:
        return load_image(path)
    except ImageLoadError as error:
        raise upload_error(error, path, name) from error


def checked_threshold(value: Any, config: DeepfakeDetectorConfig) -> float:
    """The threshold an API caller sent (a number, "0.7", or None for the model's), checked by the package's rule."""
    if value is None:
        return config.threshold
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass  # the package's check names the value
    try:
        config.check_threshold(value)
    except ValueError as error:
        raise gr.Error(f"The {error}", print_exception=False) from error
    return value


def display_copy(image: Image.Image) -> tuple[Image.Image, float]:
    """The image scaled down to `DISPLAY_SIDE` for the browser, and the scale factor applied."""
    scale = min(1.0, DISPLAY_SIDE / max(image.size))
    if scale == 1.0:
        return image, 1.0
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR), scale


def kept_result(result: ImageResult) -> ImageResult:
    """What the server keeps for re-labelling: all the page shows, without the heatmaps and the whole-image overlay."""
    return replace(result, overlay=None, faces=[replace(face, heatmap=None) for face in result.faces])


def result_json(result: ImageResult | VideoResult, threshold: float) -> dict:
    """What the API returns: the result's JSON form and the threshold its verdicts were taken at."""
    return {**result.to_dict(), "threshold": threshold}


def face_caption(index: int, face: FaceResult) -> str:
    """How a face is named on the image and in its panel: number, verdict and fake probability."""
    return f"Face {index}: {face.label} (P(fake) = {face.probabilities['fake']:.2f})"


def annotated_image(image: Image.Image, scale: float, result: ImageResult) -> gr.AnnotatedImage:
    """The image with every face boxed, each box coloured by its verdict, and faces too small to judge in grey."""
    boxed = [(face.box, face_caption(index, face), COLORS[face.label]) for index, face in enumerate(result.faces, 1)]
    boxed += [(face.box, f"Too small to judge ({face.width:.0f} px wide)", TOO_SMALL_COLOR) for face in result.too_small]
    annotations, colors = [], {}
    for box, caption, color in boxed:
        x1, y1, x2, y2 = (round(v * scale) for v in box)
        annotations.append(((max(x1, 0), max(y1, 0), min(x2, image.width), min(y2, image.height)), caption))
        colors[caption] = color
    return gr.AnnotatedImage(value=(image, annotations), color_map=colors)


def too_small_note(result: ImageResult) -> str:
    """The faces found but too small to judge, in words (empty when there is none): they take no part in the verdict."""
    count = len(result.too_small)
    if not count:
        return ""
    faces = "1 face" if count == 1 else f"{count} faces"
    return f"\n\n{faces} too small to judge (grey boxes): not scored, and no part of the verdict."


def verdict_markdown(result: ImageResult, config: DeepfakeDetectorConfig, threshold: float, model_name: str) -> str:
    """The image-level verdict in words, with the rule that produced it."""
    if result.error is not None:
        return f"### Could not analyse the image\n{result.error}"
    if result.all_too_small:
        return f"### No verdict: every face is too small to judge\n{result.message or ''}"
    if not result.faces:
        return f"### No face detected\n{result.message or ''}"
    faces = "1 face" if result.num_faces == 1 else f"{result.num_faces} faces"
    rule = f"a face is called **{config.score_label}** when P({config.score_label}) > {threshold:.2f}"
    return (
        f"## Verdict: {result.label.upper()}\n"
        f"{faces} found; the most suspicious has P(fake) = {result.fake_probability:.3f} ({rule}). "
        f"Scores come from `{model_name}`: see the *Evaluation* tab for how well it does.{too_small_note(result)}"
    )


def checked_video_options(num_frames: Any, aggregation: Any) -> tuple[int, str]:
    """The frames to sample (1 to `MAX_FRAMES`) and the rule over time an API caller sent (`None`: the defaults),
    the rule checked by the package's check; `gr.Error` saying what is wrong otherwise."""
    num_frames = DEFAULT_NUM_FRAMES if num_frames is None else num_frames
    aggregation = "mean" if aggregation is None else aggregation
    try:
        count = None if isinstance(num_frames, bool) else float(num_frames)
    except (TypeError, ValueError):
        count = None
    if count is None or not count.is_integer() or not 1 <= count <= MAX_FRAMES:
        raise gr.Error(f"The number of frames must be a whole number from 1 to {MAX_FRAMES}, got {num_frames!r}.",
                       print_exception=False)
    try:
        check_aggregation(aggregation)
    except ValueError as error:
        raise gr.Error(f"The {error}", print_exception=False) from error
    return int(count), aggregation


def kept_video(result: VideoResult) -> VideoResult:
    """What the server keeps of a video for re-labelling: every frame's faces without their heatmaps, and the explained
    frames' Grad-CAM overlays scaled down to `DISPLAY_SIDE`."""
    frames = [
        replace(
            frame,
            faces=[replace(face, heatmap=None, face_overlay=None) for face in frame.faces],
            overlay=None if frame.overlay is None else display_copy(frame.overlay)[0],
        )
        for frame in result.frames
    ]
    return replace(result, frames=frames)


def colored(label: str) -> str:
    """A verdict in capitals, marked in its colour (those of the Analyse tab's boxes)."""
    return f"{MARKS[label]} **{label.upper()}**"


def rule_over_time(result: VideoResult) -> str:
    """How a person's fake probabilities over time became one, in words."""
    names = {"mean": "mean", "median": "median", "max": "maximum"}
    return names.get(result.aggregation, f"mean of the {result.top_k or DEFAULT_TOP_K} highest")


def person_numbers(result: VideoResult) -> dict[int, int]:
    """Each track's person number, from 1 in order of appearance (as the timeline's legend numbers them)."""
    return {track.track_id: number for number, track in enumerate(result.tracks, 1)}


def persons_table(result: VideoResult) -> str:
    """Each person's verdict, aggregated fake probability, and the sampled frames where they were found."""
    rows = [
        f"| {number} | {colored(track.label)} | {track.probabilities['fake']:.3f} | {len(track.frame_indices)} | "
        f"{track.times_s[0]:.2f}–{track.times_s[-1]:.2f} s |"
        for number, track in enumerate(result.tracks, 1)
    ]
    header = f"| person | verdict | P(fake), {rule_over_time(result)} over time | frames | seen |\n"
    return header + "|---|---|---|---|---|\n" + "\n".join(rows)


def video_verdict_markdown(result: VideoResult, config: DeepfakeDetectorConfig, threshold: float,
                           model_name: str) -> str:
    """The video's verdict and each person's, in words, with the rules that produced them."""
    if result.error is not None:
        return f"### Could not analyse the video\n{result.error}"
    sampled = f"{result.frames_sampled} sampled frames"
    sampled += f" of {result.duration_s:.1f} s" if result.duration_s else ""
    failed = sum(frame.error is not None for frame in result.frames)
    notes = f"; {result.frames_without_faces} without a face" if result.frames_without_faces else ""
    notes += f" ({result.frames_too_small} with faces too small to judge)" if result.frames_too_small else ""
    notes += f" ({failed} could not be analysed)" if failed else ""
    notice = f"\n\n**Note:** {result.notice}" if result.notice else ""  # what the file did not deliver
    if not result.tracks:
        title = "No verdict: every face is too small to judge" if result.all_too_small else "No face detected"
        return f"### {title}\n{result.message or ''} ({sampled}{notes}){notice}"
    people = "1 person" if result.num_tracks == 1 else f"{result.num_tracks} people"
    label = config.score_label
    rule = (
        f"a person's P(fake) is its {rule_over_time(result)} over time; they are called **{label}** when "
        f"P({label}) > {threshold:.2f}, and the most suspicious person decides"
    )
    return (
        f"## Video verdict: {colored(result.label)}\n"
        f"{people} followed through {sampled}{notes}; the most suspicious has P(fake) = {result.fake_probability:.3f} "
        f"({rule}). Scores come from `{model_name}`: see the *Evaluation* tab for how well it does.\n\n"
        + persons_table(result) + notice
    )


def timeline_plot(result: VideoResult, config: DeepfakeDetectorConfig, threshold: float):
    """Each person's fake probability over time, with the threshold in use drawn (`None` without a person)."""
    from deepfake_detection.plots import timeline_figure

    if not result.tracks:
        return None
    return timeline_figure(result, config, threshold)


def suspicious_gallery(result: VideoResult) -> list[tuple[Image.Image, str]]:
    """The explained frames with their Grad-CAM overlays, most suspicious first, each captioned with its suspect."""
    persons, items = person_numbers(result), []
    for frame in result.suspicious_frames(len(result.frames)):
        if frame.overlay is not None:
            face, track_id = max(zip(frame.faces, frame.track_ids), key=lambda pair: pair[0].probabilities["fake"])
            caption = (f"Frame {frame.index} ({frame.time_s:.2f} s), person {persons[track_id]}: {face.label} "
                       f"(P(fake) = {face.probabilities['fake']:.2f})")
            items.append((frame.overlay, caption))
    return items


def frame_table(result: VideoResult) -> dict:
    """Every face of every sampled frame (`VideoResult.table()`), its track shown as the person number."""
    persons = person_numbers(result)
    data = [
        [row["frame"], row["time_s"], persons[row["track"]], box_text(row["box"]),
         round(row["fake_probability"], 4), row["label"]]
        for row in result.table()
    ]
    return {"headers": ["frame", "time (s)", "person", "box (x1 y1 x2 y2)", "P(fake)", "label"], "data": data}


def no_results_markdown(model: str) -> str:
    """The Evaluation tab's status when the model has published no results."""
    return (
        f"**No evaluation results yet**: `{model}` has no `eval/` results. Publish them with "
        "`python scripts/evaluate.py --model MODEL --dataset DATASET --push-to-hub`, or run the evaluation on the "
        "example dataset with the button below."
    )


def results_markdown(name: str, metrics: dict) -> str:
    """One result set in words: what was scored, at which threshold, and its warnings."""
    dataset = metrics.get("dataset", {})
    status = (
        f"Results `{name}`: {metrics.get('n_scored')} of {metrics.get('n')} images of `{dataset.get('id')}` "
        f"({dataset.get('split')}) scored, threshold {metrics.get('threshold')} on P({metrics.get('score_label')})."
    )
    return status + "".join(f"\n\n**Warning:** {warning}" for warning in metrics.get("warnings", []))


def metrics_table(metrics: dict) -> str:
    """The metrics the package names (`METRIC_NAMES`), as a markdown table; those not computed are left out."""
    from deepfake_detection.metrics import METRIC_NAMES

    rows = [f"| {label} | {metrics[key]:.3f} |" for key, label in METRIC_NAMES.items() if metrics.get(key) is not None]
    return "| metric | value |\n|---|---|\n" + "\n".join(rows)


def recorded_on(saved: SavedResults, dataset: str) -> bool:
    """Whether a result set was computed on `dataset` (a local folder is recorded by its absolute path)."""
    return saved.metrics.get("dataset", {}).get("id") in (dataset, str(Path(dataset).resolve()))


class RecentResults:
    """The last `capacity` analyses (image, faces, Grad-CAM), shared by all sessions, oldest dropped first.

    A session's state holds only the key, so memory stays bounded however many visitors come and go.
    """

    def __init__(self, capacity: int = RECENT_RESULTS):
        self.capacity = capacity
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, item: Any) -> str:
        """Keep `item` under a new random key (dropping the oldest beyond capacity); return the key."""
        key = uuid.uuid4().hex
        with self._lock:
            self._items[key] = item
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return key

    def get(self, key: str | None) -> Any | None:
        """The item kept under `key`, or `None` once it has been dropped."""
        with self._lock:
            return self._items.get(key) if key else None

    def __len__(self) -> int:
        return len(self._items)


class Analysis(NamedTuple):
    """One analysed image as the server keeps it: the result without arrays, and the display copy with its scale."""

    result: ImageResult
    image: Image.Image
    scale: float


class ModelLoader:
    """The pipeline, loaded once in a background thread so that the app accepts requests while it loads.

    `model` is a Hub id or a local folder (`None`: the package's default); `detector` wraps an already loaded pipeline.
    """

    def __init__(self, model: str | None = None, revision: str | None = None, detector=None):
        fallback = detector.model.name_or_path if detector is not None else default_model_id()
        self.model = str(model or fallback)
        self.revision = revision
        self._detector = detector
        self._error: Exception | None = None
        self._done = threading.Event()
        self._started = False
        self._lock = threading.Lock()
        if detector is not None:
            self._done.set()

    def start(self) -> ModelLoader:
        """Start loading in a background thread (only the first call does anything)."""
        with self._lock:
            if not self._started and not self._done.is_set():
                self._started = True
                threading.Thread(target=self._load, name="load-model", daemon=True).start()
        return self

    def _load(self) -> None:
        try:
            from deepfake_detection import load_pipeline

            self._detector = load_pipeline(self.model, self.revision)
        except Exception as error:  # kept for the requests (they show it) and for `main` (it exits on it)
            self._error = error
        finally:
            self._done.set()

    def wait(self) -> bool:
        """Wait until loading has ended (once started); whether the model is there."""
        self._done.wait()
        return self._error is None

    def get(self) -> DeepfakeDetectionPipeline:
        """The pipeline, waiting for it while it loads (once started); raises the error that stopped it loading."""
        if not self.wait():
            raise self._error
        return self._detector

    def page_settings(self) -> tuple[float, str]:
        """The threshold and score label for the page: from `config.json` while the model loads (no torch needed),
        else from the loaded model (waiting for it)."""
        if not self._done.is_set():
            try:
                config = json.loads(self._config_file().read_text())
                return float(config["threshold"]), str(config["score_label"])
            except Exception:  # not readable here or incomplete: the loaded config decides (or its loading error)
                pass
        config = self.start().get().model.config
        return config.threshold, config.score_label

    def _config_file(self) -> Path:
        if is_local(self.model):
            return Path(self.model) / "config.json"
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(self.model, "config.json", revision=self.revision))


class Examples:
    """The example dataset (the split the evaluation would take), loaded once, for the gallery."""

    def __init__(self, dataset: str | None):
        self.dataset_id = str(dataset or default_dataset_id())
        self._lock = threading.Lock()
        self._table = None
        self._items: list[tuple[Image.Image, str]] | None = None
        self._rows: list[int] = []
        self._unreadable = 0
        self._error: str | None = None

    def _load(self) -> None:
        from deepfake_detection.configuration_deepfake_detector import LABELS
        from deepfake_detection.dataset import image_column_undecoded, label_mapping, load_split, read_image_value

        table, _ = load_split(self.dataset_id)
        table = image_column_undecoded(table.select(range(min(len(table), MAX_EXAMPLES))), "image")
        names = label_mapping(table, "label", list(LABELS)) if "label" in table.column_names else {}
        items, rows = [], []
        for index, row in enumerate(table):
            try:
                thumbnail = read_image_value(row["image"])
            except ImageLoadError:  # one bad example is left out, the others are shown
                self._unreadable += 1
                continue
            thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
            items.append((thumbnail, names.get(row.get("label"), "")))
            rows.append(index)
        self._table, self._items, self._rows = table, items, rows

    def table(self):
        """The dataset split shown, or `None` when it cannot be loaded (loaded on the first call)."""
        with self._lock:
            if self._items is None and self._error is None:
                try:
                    self._load()
                except Exception as error:  # offline, unreachable Hub, bad folder: the gallery says why, the app runs
                    self._error = first_line(error)
            return self._table

    def gallery(self) -> tuple[list[tuple[Image.Image, str]], str]:
        """Thumbnails captioned with their true label, and a line saying where they come from."""
        if self.table() is None:
            return [], f"Examples unavailable ({self.dataset_id}: {self._error}). Upload an image instead."
        left_out = f"; {self._unreadable} unreadable left out" if self._unreadable else ""
        return self._items, (f"{len(self._items)} examples from `{self.dataset_id}` (caption: true label{left_out}). "
                             "Click one.")

    def image(self, index: int) -> Image.Image:
        """The full-resolution example shown at `index` in the gallery."""
        from deepfake_detection.dataset import read_image_value

        return read_image_value(self.table()[self._rows[index]]["image"])


class EvaluationResults:
    """The Evaluation tab's content: the model's published results (read by `deepfake_detection.report`), and runs
    made here on the example dataset."""

    def __init__(self, model: str, revision: str | None, examples: Examples):
        self.model = model
        self.revision = revision
        self.examples = examples
        self._lock = threading.Lock()
        self._sets: dict[str, SavedResults] | None = None

    def sets(self) -> dict[str, SavedResults]:
        """Result sets by name, published ones first (fetched and read once, then cached)."""
        with self._lock:
            if self._sets is None:
                from deepfake_detection.report import published_results, read_results

                published = published_results(self.model, self.revision)
                self._sets = {name: read_results(folder) for name, folder in published.items()}
            return dict(self._sets)

    def view(self, name: str | None = None) -> tuple:
        """The tab's content for the result set `name` (default: the example dataset's, else the first)."""
        sets = self.sets()
        if not sets:
            hidden = gr.Dropdown(choices=[], value=None, visible=False)
            return no_results_markdown(self.model), "", None, *[None] * len(PLOTS), hidden
        if name not in sets:
            matching = (key for key, saved in sets.items() if recorded_on(saved, self.examples.dataset_id))
            name = next(matching, next(iter(sets)))
        saved = sets[name]
        plots = [str(saved.plots[plot]) if plot in saved.plots else None for plot in PLOTS]
        dropdown = gr.Dropdown(choices=list(sets), value=name, visible=len(sets) > 1)
        return results_markdown(name, saved.metrics), metrics_table(saved.metrics), saved.metrics, *plots, dropdown

    def run(self, detector: DeepfakeDetectionPipeline, progress: gr.Progress) -> tuple:
        """Evaluate the model on the example dataset here once (progress bar), then show that result."""
        from deepfake_detection.evaluation import evaluate
        from deepfake_detection.report import read_results

        name = f"run here on {self.examples.dataset_id}"
        if name not in self.sets():
            progress(0, desc="Evaluating on the example dataset")
            output = Path(tempfile.mkdtemp(prefix="space-eval-"))
            try:
                evaluate(detector, self.examples.dataset_id, output_dir=output)
            except EvaluationError as error:
                raise gr.Error(str(error), print_exception=False) from error
            with self._lock:
                self._sets[name] = read_results(output)
        return self.view(name)


class Handlers:
    """What the page's events call; each waits for the model while it loads."""

    def __init__(self, loader: ModelLoader, examples: Examples, evaluations: EvaluationResults):
        self.loader = loader
        self.examples = examples
        self.evaluations = evaluations
        self.recent = RecentResults()
        self.videos = RecentResults(RECENT_VIDEOS)

    def pipeline(self) -> DeepfakeDetectionPipeline:
        """The loaded pipeline; while it loads, the request waits here."""
        try:
            return self.loader.get()
        except Exception as error:
            raise gr.Error(f"The model is not available: {error}", print_exception=False) from error

    def analyze(self, image: dict | None, threshold: Any) -> tuple[dict | None, str | None]:
        """Every face of the image with its probabilities and verdict, as JSON, and the key of the kept result."""
        if image is None:
            return None, None
        detector = self.pipeline()
        threshold = checked_threshold(threshold, detector.model.config)
        picture = read_upload(image["path"], image.get("orig_name"))
        result = detector(picture, explain=True, threshold=threshold)
        shown, scale = display_copy(picture)
        key = self.recent.add(Analysis(kept_result(result), shown, scale))
        return result_json(result, threshold), key

    def show(self, key: str | None, threshold: float) -> tuple[Any, str, dict | None]:
        """The annotated image, the verdict and the JSON of the kept result at `threshold` (no model run)."""
        analysis = self.recent.get(key)
        if analysis is None:
            return None, EXPIRED_MESSAGE if key else "", None
        config = self.pipeline().model.config
        result = analysis.result.relabel(config, threshold)
        return (
            annotated_image(analysis.image, analysis.scale, result),
            verdict_markdown(result, config, threshold, self.loader.model),
            result_json(result, threshold),
        )

    def face_panels(self, key: str | None, threshold: float) -> None:
        """One panel per face of the kept result: its probabilities and Grad-CAM (drawn inside `gr.render`)."""
        analysis = self.recent.get(key)
        if analysis is None:
            return
        result = analysis.result.relabel(self.pipeline().model.config, threshold)
        with gr.Row(equal_height=True):
            for index, face in enumerate(result.faces, 1):
                with gr.Column(scale=0, min_width=300):
                    gr.Label(face.probabilities, label=face_caption(index, face), show_heading=False)
                    gr.Image(face.face_overlay, label=f"Face {index} Grad-CAM", height=256, width=256)

    def analyze_video(self, video: dict | None, threshold: Any, num_frames: Any, aggregation: Any,
                      progress: gr.Progress = gr.Progress()) -> tuple[dict | None, str | None]:
        """The video's verdict, each person's (their faces followed through the sampled frames), and every face of
        every frame, as JSON; and the key of the kept result. Grad-CAM only for the `EXPLAIN_FRAMES` most suspicious."""
        if video is None:
            return None, None
        detector = self.pipeline()
        threshold = checked_threshold(threshold, detector.model.config)
        num_frames, aggregation = checked_video_options(num_frames, aggregation)
        path, name = video["path"], video.get("orig_name")
        if not is_video(path):
            raise upload_error(f"{path}: not a video file; upload a {', '.join(VIDEO_SUFFIXES)} file.", path, name)
        progress(0, desc=f"Decoding up to {num_frames} frames")

        def report(done: int, total: int, stage: str) -> None:
            progress(done / max(total, 1), desc=f"{stage.capitalize()} {done} of {total} frames")

        try:
            result = detector.analyse_video(path, num_frames=num_frames, aggregation=aggregation, threshold=threshold,
                                            explain_frames=EXPLAIN_FRAMES, progress=report)
        except VideoLoadError as error:
            raise upload_error(error, path, name) from error
        key = self.videos.add(kept_video(result))
        return result_json(result, threshold), key

    def show_video(self, key: str | None, threshold: float, aggregation: str) -> tuple:
        """The kept video's verdicts, timeline, explained frames, frame table and JSON, its persons' scores combined
        over time by `aggregation` and labelled at `threshold` (no model run)."""
        kept = self.videos.get(key)
        if kept is None:
            return VIDEO_EXPIRED_MESSAGE if key else "", None, [], None, None
        config = self.pipeline().model.config
        result = replace(kept, aggregation=aggregation).relabel(config, threshold)
        return (
            video_verdict_markdown(result, config, threshold, self.loader.model),
            timeline_plot(result, config, threshold),
            suspicious_gallery(result),
            frame_table(result),
            result_json(result, threshold),
        )

    def pick_example(self, event: gr.SelectData) -> Image.Image:
        """The clicked example, at full resolution, for the image input."""
        return self.examples.image(event.index)

    def gallery(self) -> tuple[list[tuple[Image.Image, str]], str]:
        """The examples gallery, once the model is there (the first analysis needs it more)."""
        self.loader.wait()
        return self.examples.gallery()

    def evaluation_view(self) -> tuple:
        """The Evaluation tab's first content, once the model is there."""
        self.loader.wait()
        return self.evaluations.view()

    def run_evaluation(self, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple:
        """Evaluate on the example dataset here, with a progress bar."""
        return self.evaluations.run(self.pipeline(), progress)

    def prefetch(self) -> None:
        """Fetch the examples and the published results once the model is there, before a visitor asks."""
        self.loader.wait()
        self.examples.table()
        self.evaluations.sets()


def clear_analysis() -> tuple[None, str, None, None]:
    """Empty the image, verdict, JSON and state after a failed analysis."""
    return None, "", None, None


def clear_video_analysis() -> tuple[str, None, list, None, None, None]:
    """Empty the verdict, timeline, frames, table, JSON and state after a failed video analysis."""
    return "", None, [], None, None, None


def threshold_slider(default: float, score_label: str, elem_id: str = "threshold", what: str = "A face") -> gr.Slider:
    """The threshold slider, starting at the model's threshold."""
    return gr.Slider(
        0.01, 0.99, value=default, step=0.01, label="Threshold", elem_id=elem_id,
        info=f"{what} is {score_label} when P({score_label}) is above it (model default {default}). "
        "Moving it re-labels without re-running the model.",
    )


def examples_gallery(demo: gr.Blocks, handlers: Handlers, image: gr.Image) -> None:
    """The examples gallery, filled on page load; a click puts the example in `image` (which analyses it)."""
    note = gr.Markdown("Loading examples...")
    gallery = gr.Gallery(label="Examples", columns=4, height=300, allow_preview=False, elem_id="examples")
    gallery.select(handlers.pick_example, None, image, api_visibility="private")
    demo.load(handlers.gallery, None, [gallery, note], api_visibility="private")


def face_panels(handlers: Handlers, state: gr.State, threshold: gr.Slider) -> None:
    """The per-face panels (probabilities, Grad-CAM), re-drawn when a result arrives or the threshold moves."""
    gr.Markdown("### Each face: probabilities and Grad-CAM")
    gr.render(inputs=[state, threshold], triggers=[state.change, threshold.change])(handlers.face_panels)


def analyse_tab(demo: gr.Blocks, handlers: Handlers, state: gr.State, settings: tuple[float, str],
                concurrency: int) -> None:
    """The Analyse tab: upload, threshold and examples on the left, verdict and boxes on the right, per-face panels
    below; an upload is analysed (the public `/analyze` endpoint) and shown, and moving the threshold re-labels."""
    with gr.Tab("Analyse"):
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.Image(
                    type="filepath", format="png", sources=["upload", "clipboard"], label="Image", height=360
                )
                threshold = threshold_slider(*settings)
                examples_gallery(demo, handlers, image)
            with gr.Column(scale=2):
                verdict = gr.Markdown(elem_id="verdict")
                annotated = gr.AnnotatedImage(label="Faces", height=480)
        face_panels(handlers, state, threshold)
        with gr.Accordion("JSON (what the API returns)", open=False):
            json_out = gr.JSON(label="Result")
    analysis = image.change(
        handlers.analyze,
        inputs=[image, threshold],
        outputs=[json_out, state],
        api_name="analyze",
        api_description="Analyse one image: JSON with the image's verdict and, per face, its box, "
        "probabilities {real, fake} and label at the given threshold.",
        preprocess=False,
        concurrency_limit=concurrency,
        concurrency_id="model",
    )
    shown = [annotated, verdict, json_out]
    analysis.success(handlers.show, [state, threshold], shown, api_visibility="private")
    analysis.failure(clear_analysis, None, [*shown, state], api_visibility="private")
    threshold.change(handlers.show, [state, threshold], shown, api_visibility="private")


def video_controls(settings: tuple[float, str]) -> tuple[gr.File, gr.Slider, gr.Slider, gr.Dropdown, gr.Button]:
    """The Video tab's inputs: the clip, the threshold, the frames to sample and the rule over time, and a button.

    The clip is a file, not a `gr.Video`: that player reports every clip the browser cannot play (.avi, .mkv, MJPEG)
    as an error, although it is analysed; the suspicious frames show what was seen."""
    video = gr.File(label="Video", file_types=list(VIDEO_SUFFIXES), height=120, elem_id="video")
    gr.Markdown(f"{', '.join(VIDEO_SUFFIXES)}; analysed on upload.")
    threshold = threshold_slider(*settings, elem_id="video-threshold", what="A person")
    num_frames = gr.Slider(
        1, MAX_FRAMES, value=DEFAULT_NUM_FRAMES, step=1, label="Frames to sample", elem_id="num-frames",
        info="Evenly spaced over the clip: more frames follow faces better and take longer. Press Analyse again.",
    )
    aggregation = gr.Dropdown(
        list(AGGREGATIONS), value="mean", label="A person's score over time", elem_id="aggregation",
        info=f"mean (DFDC's rule), median, max, or topk (mean of the {DEFAULT_TOP_K} highest); changing it re-labels "
        "without re-running the model.",
    )
    return video, threshold, num_frames, aggregation, gr.Button("Analyse", variant="primary")


def video_tab(settings: tuple[float, str], handlers: Handlers, concurrency: int) -> None:
    """The Video tab: clip and settings on the left, the video's and each person's verdict and the timeline on the
    right, the most suspicious frames with Grad-CAM and every face of every frame below. An upload or the button
    analyses (the public `/analyze_video` endpoint); the threshold and the rule over time re-label, no model run."""
    state = gr.State(time_to_live=STATE_TTL_S)  # a key into `Handlers.videos`, as for images
    with gr.Tab("Video"):
        with gr.Row():
            with gr.Column(scale=1):
                video, threshold, num_frames, aggregation, button = video_controls(settings)
            with gr.Column(scale=2):
                verdict = gr.Markdown(elem_id="video-verdict")
                timeline = gr.Plot(label="Fake probability over time, per person")
        frames = gr.Gallery(label=f"The {EXPLAIN_FRAMES} most suspicious frames, with Grad-CAM", columns=EXPLAIN_FRAMES,
                            height=300, object_fit="contain", elem_id="suspicious-frames")
        with gr.Accordion("Every face in every sampled frame", open=False):
            table = gr.Dataframe(interactive=False, elem_id="frame-table")
        with gr.Accordion("JSON (what the API returns)", open=False):
            json_out = gr.JSON(label="Result")
    analysis = gr.on(
        [video.change, button.click], handlers.analyze_video, inputs=[video, threshold, num_frames, aggregation],
        outputs=[json_out, state], api_name="analyze_video",
        api_description="Analyse one video: num_frames frames evenly spaced, each face followed through them; JSON "
        "with the video's verdict, each person's (track: fake probability over time combined by aggregation) and "
        "every face of every sampled frame, at the given threshold.",
        preprocess=False, concurrency_limit=concurrency, concurrency_id="model", show_progress_on=[verdict, timeline],
    )
    shown = [verdict, timeline, frames, table, json_out]
    analysis.success(handlers.show_video, [state, threshold, aggregation], shown, api_visibility="private")
    analysis.failure(clear_video_analysis, None, [*shown, state], api_visibility="private")
    gr.on([threshold.change, aggregation.change], handlers.show_video, [state, threshold, aggregation], shown,
          api_visibility="private")


def evaluation_tab(demo: gr.Blocks, handlers: Handlers) -> None:
    """The Evaluation tab: a result set's summary, metrics, plots and metrics.json; another set or a run on demand."""
    with gr.Tab("Evaluation"):
        result_set = gr.Dropdown(label="Results", visible=False)
        status = gr.Markdown("Loading the evaluation results...")
        button = gr.Button("Run the evaluation on the example dataset")
        table = gr.Markdown()
        with gr.Row():
            plots = [gr.Image(label=label, type="filepath") for label in PLOTS.values()]
        with gr.Accordion("metrics.json", open=False):
            metrics = gr.JSON(label="Metrics")
    outputs = [status, table, metrics, *plots, result_set]
    demo.load(handlers.evaluation_view, None, outputs, api_visibility="private")
    result_set.input(handlers.evaluations.view, result_set, outputs, api_visibility="private")
    button.click(handlers.run_evaluation, None, outputs, api_visibility="private", concurrency_limit=1)


def build_app(
    detector: DeepfakeDetectionPipeline | ModelLoader,
    model: str | None = None,
    dataset: str | None = None,
    revision: str | None = None,
    concurrency: int = CONCURRENCY,
    prefetch: bool = True,
) -> gr.Blocks:
    """The Space's UI around a `deepfake-detection` pipeline, loaded or still loading; nothing is evaluated here.

    `detector` is a loaded pipeline or a `ModelLoader` (started now or later: requests wait for the model). With
    `prefetch`, the examples and the published evaluation are fetched in a background thread once the model is there.
    """
    loader = detector if isinstance(detector, ModelLoader) else ModelLoader(model, revision, detector=detector)
    examples = Examples(dataset)
    settings = loader.page_settings()
    handlers = Handlers(loader, examples, EvaluationResults(loader.model, loader.revision, examples))
    with gr.Blocks(title="Deepfake detection", delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown(
            "# Deepfake detection\nFinds every face in a photo or video frame, tells whether each looks **real** or "
            "**fake** (deepfake), and shows which regions drove the score (Grad-CAM); in a video (*Video* tab), "
            f"follows each person through time for one verdict per person. Model: `{loader.model}`."
        )
        state = gr.State(time_to_live=STATE_TTL_S)
        analyse_tab(demo, handlers, state, settings, concurrency)
        video_tab(settings, handlers, concurrency)
        evaluation_tab(demo, handlers)
    demo.queue(default_concurrency_limit=concurrency)
    if prefetch:
        threading.Thread(target=handlers.prefetch, name="prefetch", daemon=True).start()
    return demo


def model_loader(model: str | None = None, revision: str | None = None) -> ModelLoader:
    """A loader (not started) for `model` (Hub id or local folder), defaulting to the package's model and revision."""
    return ModelLoader(model or default_model_id(), revision or default_revision())


def create_app(model: str | None = None, dataset: str | None = None, revision: str | None = None) -> gr.Blocks:
    """The app for `model`, its model already loading in the background (requests wait for it)."""
    return build_app(model_loader(model, revision).start(), dataset=dataset)


def build_parser() -> argparse.ArgumentParser:
    """The command line: model, dataset, revision, and where to serve."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help=f"Hub repo id or local model folder (default: ${MODEL_ENV}).")
    parser.add_argument("--dataset", default=None, help=f"Example dataset: Hub id or local folder (${DATASET_ENV}).")
    parser.add_argument("--revision", default=None, help=f"Model repo branch, tag or commit (${REVISION_ENV}).")
    parser.add_argument("--host", default=None, help="Interface to listen on (default 127.0.0.1, 0.0.0.0 on Spaces).")
    parser.add_argument("--port", type=int, default=None, help="Port (default 7860 or $GRADIO_SERVER_PORT).")
    parser.add_argument("--share", action="store_true", help="Also open a public gradio.live link.")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Load the model in the background and serve meanwhile (analyses wait for it); exit 2 when it cannot load.
    Uploads live in this instance's folder, removed when it stops, on Ctrl-C or SIGTERM too (`uploads`)."""
    args = build_parser().parse_args(argv)
    with instance_uploads():
        loader, demo = model_loader(args.model, args.revision).start(), None
        try:
            demo = build_app(loader, dataset=args.dataset)
            demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size="100mb",
                        prevent_thread_lock=True)
            loader.get()
        except (ModelNotAvailableError, KeyboardInterrupt) as error:  # or stopped (Ctrl-C, SIGTERM) while starting
            if demo is not None:
                demo.close()
            if isinstance(error, KeyboardInterrupt):
                return 130
            print(f"error: {error}", file=sys.stderr)
            return 2
        demo.block_thread()  # until Ctrl-C or SIGTERM
    return 0


if __name__ == "__main__":
    sys.exit(main())
