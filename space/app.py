"""The deepfake-detection Space: a Gradio app over the package's pipeline, with its model and examples on the Hub.

    python space/app.py [--model ID_OR_PATH] [--dataset ID_OR_PATH] [--revision REV] [--port N] [--share]

The model and the example dataset default to `$DEEPFAKE_DETECTION_MODEL` / `$DEEPFAKE_DETECTION_DATASET` (else the
package's defaults). Start-up evaluates nothing and does not wait for the model: the server answers as soon as gradio
is imported and the page built (the slider's threshold read from the model's `config.json`), and the package (torch,
transformers, Grad-CAM) and the model load in a background thread; requests that arrive meanwhile wait for it. The
examples and evaluation results are fetched after the model and shown once there.
API: `Client(url).predict(handle_file(path), threshold, api_name="/analyze")` returns the JSON of every face.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

MODEL_ENV = "DEEPFAKE_DETECTION_MODEL"
DATASET_ENV = "DEEPFAKE_DETECTION_DATASET"
REVISION_ENV = "DEEPFAKE_DETECTION_REVISION"
"""`deepfake_detection.hub`'s variables, named here because importing the package (torch, transformers) takes seconds:
this module imports it only in the background thread and in request handlers, never before the server answers."""
DISPLAY_SIDE = 1280
"""Longest side of the annotated image sent to the browser (analysis always runs at full resolution)."""
THUMBNAIL_SIDE = 256
CONCURRENCY = 2
"""Analyses run at once (the free Space hardware has 2 CPU cores); further requests wait in Gradio's queue."""
STATE_TTL_S = 900
"""How long a visitor's session state (only a key into `RecentResults`) is kept after its last use."""
RECENT_RESULTS = 32
"""How many analysed images (display copy, crops, Grad-CAM) the server keeps for re-labelling, over all visitors."""
CACHE_CLEANUP = (600, 1800)
"""Gradio's `delete_cache`: every 10 minutes, delete uploads and generated images older than 30 minutes."""
COLORS = {"real": "#2e7d32", "fake": "#c62828"}
EXPIRED_MESSAGE = "This result is no longer kept on the server: analyse the image again to change the threshold."


def read_upload(path: str, name: str | None = None) -> Image.Image:
    """Open an uploaded file as an RGB image, or raise `gr.Error` saying why it cannot be analysed (unreadable, or
    over the package's `images.MAX_PIXELS`, checked before decoding)."""
    from deepfake_detection import ImageLoadError, load_image

    name = name or Path(path).name
    try:
        return load_image(path)
    except ImageLoadError as error:
        raise gr.Error(str(error).replace(str(path), name), duration=None, print_exception=False) from error


def display_copy(image: Image.Image) -> tuple[Image.Image, float]:
    """The image scaled down to `DISPLAY_SIDE` for the browser, and the scale factor applied."""
    scale = min(1.0, DISPLAY_SIDE / max(image.size))
    if scale == 1.0:
        return image, 1.0
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR), scale


def face_caption(index: int, face: dict) -> str:
    """How a face is named on the image and in its panel: number, verdict and fake probability."""
    return f"Face {index}: {face['label']} (P(fake) = {face['probabilities']['fake']:.2f})"


def annotated_image(image: Image.Image, scale: float, result: dict) -> gr.AnnotatedImage:
    """The image with every face boxed, each box coloured by its verdict."""
    annotations, colors = [], {}
    for index, face in enumerate(result["faces"], 1):
        x1, y1, x2, y2 = (round(v * scale) for v in face["box"])
        box = (max(x1, 0), max(y1, 0), min(x2, image.width), min(y2, image.height))
        caption = face_caption(index, face)
        annotations.append((box, caption))
        colors[caption] = COLORS[face["label"]]
    return gr.AnnotatedImage(value=(image, annotations), color_map=colors)


def verdict_markdown(result: dict, config, threshold: float, model_name: str) -> str:
    """The image-level verdict in words, with the rule that produced it."""
    if not result["faces"]:
        return f"### No face detected\n{result.get('message', '')}"
    count = result["num_faces"]
    faces = "1 face" if count == 1 else f"{count} faces"
    rule = f"a face is called **{config.score_label}** when P({config.score_label}) > {threshold:.2f}"
    return (
        f"## Verdict: {result['label'].upper()}\n"
        f"{faces} found; the most suspicious has P(fake) = {result['fake_probability']:.3f} ({rule}). "
        f"Scores come from `{model_name}`: see the *Evaluation* tab for how well it does."
    )


class RecentResults:
    """The last `capacity` analyses (image, faces, Grad-CAM), shared by all sessions, oldest dropped first.

    A session's state holds only the key, so memory stays bounded however many visitors come and go.
    """

    def __init__(self, capacity: int = RECENT_RESULTS):
        self.capacity = capacity
        self._items: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, item: dict) -> str:
        key = uuid.uuid4().hex
        with self._lock:
            self._items[key] = item
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return key

    def get(self, key: str | None) -> dict | None:
        with self._lock:
            return self._items.get(key) if key else None

    def __len__(self) -> int:
        return len(self._items)


class ModelLoader:
    """The pipeline, loaded once in a background thread so that the app accepts requests while it loads.

    `model` is a Hub id or a local folder (`None`: the package's default); `detector` wraps an already loaded pipeline.
    """

    def __init__(self, model: str | None = None, revision: str | None = None, detector=None):
        self.model = str(model) if model else None
        self.revision = revision
        self._detector = detector
        self._error: Exception | None = None
        self._done = threading.Event()
        self._started = False
        self._lock = threading.Lock()
        if detector is not None:
            self.model = self.model or str(detector.model.name_or_path)
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
            from deepfake_detection.hub import default_model_id, load_pipeline

            self.model = self.model or default_model_id()
            self._detector = load_pipeline(self.model, self.revision)
        except Exception as error:  # kept for the requests (they show it) and for `main` (it exits on it)
            self._error = error
        finally:
            self._done.set()

    def wait(self) -> bool:
        """Wait until loading has ended (once started); whether the model is there."""
        self._done.wait()
        return self._error is None

    def get(self):
        """The pipeline, waiting for it while it loads (once started); raises the error that stopped it loading."""
        if not self.wait():
            raise self._error
        return self._detector

    def page_settings(self) -> tuple[float, str]:
        """The config's threshold and score label, for the page: from `config.json` while the model loads (no torch
        or transformers needed), else from the loaded model (waiting for it)."""
        if self.model and not self._done.is_set():
            try:
                config = json.loads(self._config_file().read_text())
                return float(config["threshold"]), str(config["score_label"])
            except Exception:  # not readable here or incomplete: the loaded config decides (or its loading error)
                pass
        config = self.start().get().model.config
        return config.threshold, config.score_label

    def _config_file(self) -> Path:
        if Path(self.model).is_dir():
            return Path(self.model) / "config.json"
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(self.model, "config.json", revision=self.revision))


MAX_EXAMPLES = 24
"""The gallery shows at most this many rows of the example split (each is decoded for its thumbnail)."""


class Examples:
    """The example dataset (the split the evaluation would take), loaded once, for the gallery."""

    def __init__(self, dataset: str | None):
        self._dataset_id = dataset
        self._lock = threading.Lock()
        self._table = None
        self._items: list[tuple[Image.Image, str]] | None = None
        self._error: str | None = None

    @property
    def dataset_id(self) -> str:
        """The dataset shown: the one given, else the package's default (imports the package: not on start-up)."""
        if self._dataset_id is None:
            from deepfake_detection.hub import default_dataset_id

            self._dataset_id = default_dataset_id()
        return self._dataset_id

    def _load(self) -> None:
        from deepfake_detection import evaluation
        from deepfake_detection.configuration_deepfake_detector import LABELS

        table, _ = evaluation.load_split(self.dataset_id)
        table = table.select(range(min(len(table), MAX_EXAMPLES)))
        names = evaluation.label_mapping(table, "label", list(LABELS)) if "label" in table.column_names else {}
        items = []
        for row in table:
            thumbnail = row["image"].convert("RGB")
            thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
            items.append((thumbnail, names.get(row.get("label"), "")))
        self._table, self._items = table, items

    def table(self):
        """The dataset split shown, or `None` when it cannot be loaded (loaded on the first call)."""
        with self._lock:
            if self._items is None and self._error is None:
                try:
                    self._load()
                except Exception as error:  # offline, unreachable Hub, bad folder: the gallery says why, the app runs
                    from deepfake_detection.hub import first_line

                    self._error = first_line(error)
            return self._table

    def gallery(self) -> tuple[list[tuple[Image.Image, str]], str]:
        """Thumbnails captioned with their true label, and a line saying where they come from."""
        if self.table() is None:
            return [], f"Examples unavailable ({self.dataset_id}: {self._error}). Upload an image instead."
        return self._items, f"{len(self._items)} examples from `{self.dataset_id}` (caption: true label). Click one."

    def image(self, index: int) -> Image.Image:
        """The full-resolution example at `index`."""
        return self.table()[index]["image"].convert("RGB")


class EvaluationResults:
    """The model's evaluations (each an `eval/<dataset>-<split>/` folder of its repo), and runs made here."""

    def __init__(self, model: str, revision: str | None, examples: Examples):
        self.model = model
        self.revision = revision
        self.examples = examples
        self._lock = threading.Lock()
        self._sets: dict[str, Path] | None = None

    def _published(self) -> dict[str, Path]:
        from deepfake_detection.hub import is_local

        if is_local(self.model):
            root = Path(self.model)
        else:
            from huggingface_hub import snapshot_download

            try:
                root = Path(snapshot_download(self.model, revision=self.revision, allow_patterns=["eval/*"]))
            except Exception:  # offline and not cached, unreachable Hub: no published results to show
                return {}
        return {str(path.parent.relative_to(root)): path.parent for path in sorted(root.glob("eval/**/metrics.json"))}

    def sets(self) -> dict[str, Path]:
        """Result folders by name, published ones first (fetched once, then cached)."""
        with self._lock:
            if self._sets is None:
                self._sets = self._published()
            return dict(self._sets)

    def view(self, name: str | None = None) -> tuple:
        """The Evaluation tab's content for the result set `name` (default: the example dataset's, else the first)."""
        from deepfake_detection.evaluation import METRIC_NAMES

        sets = self.sets()
        if not sets:
            status = (
                f"**No evaluation results yet**: `{self.model}` has no `eval/` results. Publish them with "
                "`python scripts/evaluate.py --model MODEL --dataset DATASET --push-to-hub`, or run the evaluation "
                "on the example dataset with the button below."
            )
            return status, "", None, None, None, gr.Dropdown(choices=[], value=None, visible=False)
        if name not in sets:
            mark = str(self.examples.dataset_id or "").replace("/", "--")
            name = next((key for key in sets if mark and mark in key), next(iter(sets)))
        folder = sets[name]
        metrics = json.loads((folder / "metrics.json").read_text())
        plots = [folder / name for name in ("confusion_matrix.png", "roc_curve.png")]
        images = [str(path) if path.is_file() else None for path in plots]
        dataset = metrics.get("dataset", {})
        status = (
            f"Results `{name}`: {metrics.get('n_scored')} of {metrics.get('n')} images of `{dataset.get('id')}` "
            f"({dataset.get('split')}) scored, threshold {metrics.get('threshold')} on P({metrics.get('score_label')})."
        )
        status += "".join(f"\n\n**Warning:** {warning}" for warning in metrics.get("warnings", []))
        table = "| metric | value |\n|---|---|\n" + "\n".join(
            f"| {label} | {metrics[key]:.3f} |" for key, label in METRIC_NAMES.items()
            if metrics.get(key) is not None
        )
        dropdown = gr.Dropdown(choices=list(sets), value=name, visible=len(sets) > 1)
        return status, table, metrics, *images, dropdown

    def run(self, detector, progress: gr.Progress) -> tuple:
        """Evaluate the model on the example dataset here once (progress bar), then show that result."""
        from deepfake_detection import evaluation

        name = f"run here on {self.examples.dataset_id}"
        if name not in self.sets():
            progress(0, desc="Evaluating on the example dataset")
            output = Path(tempfile.mkdtemp(prefix="space-eval-"))
            try:
                evaluation.evaluate(detector, self.examples.dataset_id, output_dir=output)
            except evaluation.EvaluationError as error:
                raise gr.Error(str(error), print_exception=False) from error
            with self._lock:
                self._sets[name] = output
        return self.view(name)


def build_app(
    detector,
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
    default_threshold, score_label = loader.page_settings()
    model, revision = loader.model, loader.revision
    examples = Examples(dataset)
    results = EvaluationResults(model, revision, examples)
    recent = RecentResults()

    def pipeline():
        """The loaded pipeline; while it loads, the request waits here."""
        try:
            return loader.get()
        except Exception as error:
            raise gr.Error(f"The model is not available: {error}", print_exception=False) from error

    def analyze(image: dict | None, threshold: float) -> tuple[dict | None, dict | None]:
        """Every face of the image with its real/fake probabilities and verdict, as JSON (and the full result)."""
        if image is None:
            return None, None
        detector = pipeline()
        from deepfake_detection.pipeline import to_json

        threshold = detector.model.config.threshold if threshold is None else threshold
        if isinstance(threshold, str):  # API callers may send "0.7"
            try:
                threshold = float(threshold)
            except ValueError:
                pass  # the check below names it
        try:
            detector.model.config.check_threshold(threshold)
        except ValueError as error:
            raise gr.Error(f"The {error}", print_exception=False) from error
        picture = read_upload(image["path"], image.get("orig_name"))
        result = detector(picture, explain=True, threshold=threshold)
        shown, scale = display_copy(picture)
        kept = {key: value for key, value in result.items() if key != "overlay"}  # only what the page shows stays
        kept["faces"] = [{key: value for key, value in face.items() if key != "heatmap"} for face in result["faces"]]
        key = recent.add({"result": kept, "image": shown, "scale": scale})
        return {**to_json(result), "threshold": threshold}, key

    def show(key: str | None, threshold: float) -> tuple[Any, str, dict | None]:
        state = recent.get(key)
        if state is None:
            return None, EXPIRED_MESSAGE if key else "", None
        from deepfake_detection.pipeline import relabel, to_json

        config = pipeline().model.config
        result = relabel(state["result"], config, threshold)
        return (
            annotated_image(state["image"], state["scale"], result),
            verdict_markdown(result, config, threshold, model),
            {**to_json(result), "threshold": threshold},
        )

    def pick_example(event: gr.SelectData) -> Image.Image:
        return examples.image(event.index)

    def run_evaluation(progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple:
        return results.run(pipeline(), progress)

    def gallery() -> tuple[list[tuple[Image.Image, str]], str]:
        loader.wait()  # the model first: it is what the first analysis needs
        return examples.gallery()

    def evaluation_view() -> tuple:
        loader.wait()
        return results.view()

    def prefetch_after_model() -> None:
        loader.wait()
        examples.table()
        results.sets()

    with gr.Blocks(title="Deepfake detection", delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown(
            "# Deepfake detection\nFinds every face in a photo or video frame, tells whether each looks **real** or "
            f"**fake** (deepfake), and shows which regions drove the score (Grad-CAM). Model: `{model}`."
        )
        state = gr.State(time_to_live=STATE_TTL_S)
        with gr.Tab("Analyse"):
            with gr.Row():
                with gr.Column(scale=1):
                    image_in = gr.Image(
                        type="filepath", format="png", sources=["upload", "clipboard"], label="Image", height=360
                    )
                    threshold = gr.Slider(
                        0.01, 0.99, value=default_threshold, step=0.01, label="Threshold", elem_id="threshold",
                        info=f"A face is {score_label} when P({score_label}) is above it "
                        f"(model default {default_threshold}). Moving it re-labels without re-running the model.",
                    )
                    examples_note = gr.Markdown("Loading examples...")
                    gallery_view = gr.Gallery(
                        label="Examples", columns=4, height=300, allow_preview=False, elem_id="examples"
                    )
                with gr.Column(scale=2):
                    verdict = gr.Markdown(elem_id="verdict")
                    annotated = gr.AnnotatedImage(label="Faces", height=480)
            gr.Markdown("### Each face: probabilities and Grad-CAM")

            @gr.render(inputs=[state, threshold], triggers=[state.change, threshold.change])
            def face_panels(key: str | None, threshold_value: float) -> None:
                current = recent.get(key)
                if current is None:
                    return
                from deepfake_detection.pipeline import relabel

                result = relabel(current["result"], pipeline().model.config, threshold_value)
                with gr.Row(equal_height=True):
                    for index, face in enumerate(result["faces"], 1):
                        with gr.Column(scale=0, min_width=300):
                            gr.Label(face["probabilities"], label=face_caption(index, face), show_heading=False)
                            gr.Image(face["face_overlay"], label=f"Face {index} Grad-CAM", height=256, width=256)

            with gr.Accordion("JSON (what the API returns)", open=False):
                json_out = gr.JSON(label="Result")
        with gr.Tab("Evaluation"):
            result_set = gr.Dropdown(label="Results", visible=False)
            eval_status = gr.Markdown("Loading the evaluation results...")
            eval_button = gr.Button("Run the evaluation on the example dataset")
            metric_table = gr.Markdown()
            with gr.Row():
                confusion = gr.Image(label="Confusion matrix", type="filepath")
                roc = gr.Image(label="ROC curve", type="filepath")
            with gr.Accordion("metrics.json", open=False):
                metrics = gr.JSON(label="Metrics")

        analysis = image_in.change(
            analyze,
            inputs=[image_in, threshold],
            outputs=[json_out, state],
            api_name="analyze",
            api_description="Analyse one image: JSON with the image's verdict and, per face, its box, "
            "probabilities {real, fake} and label at the given threshold.",
            preprocess=False,
            concurrency_limit=concurrency,
            concurrency_id="model",
        )
        analysis.success(show, [state, threshold], [annotated, verdict, json_out], api_visibility="private")
        analysis.failure(
            lambda: (None, "", None, None), None, [annotated, verdict, json_out, state], api_visibility="private"
        )
        threshold.change(show, [state, threshold], [annotated, verdict, json_out], api_visibility="private")
        gallery_view.select(pick_example, None, image_in, api_visibility="private")
        demo.load(gallery, None, [gallery_view, examples_note], api_visibility="private")
        eval_outputs = [eval_status, metric_table, metrics, confusion, roc, result_set]
        demo.load(evaluation_view, None, eval_outputs, api_visibility="private")
        result_set.input(results.view, result_set, eval_outputs, api_visibility="private")
        eval_button.click(run_evaluation, None, eval_outputs, api_visibility="private", concurrency_limit=1)
    demo.queue(default_concurrency_limit=concurrency)
    if prefetch:
        threading.Thread(target=prefetch_after_model, name="prefetch", daemon=True).start()
    return demo


def model_loader(model: str | None = None, revision: str | None = None) -> ModelLoader:
    """A loader (not started) for `model` (Hub id or local folder), defaulting like the package to its variables."""
    return ModelLoader(model or os.environ.get(MODEL_ENV), revision or os.environ.get(REVISION_ENV))


def create_app(model: str | None = None, dataset: str | None = None, revision: str | None = None) -> gr.Blocks:
    """The app for `model`, its model already loading in the background (requests wait for it)."""
    loader = model_loader(model, revision).start()
    return build_app(loader, dataset=dataset or os.environ.get(DATASET_ENV))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help=f"Hub repo id or local model folder (default: ${MODEL_ENV}).")
    parser.add_argument("--dataset", default=None, help=f"Example dataset: Hub id or local folder (${DATASET_ENV}).")
    parser.add_argument("--revision", default=None, help="Pin the model repo to a branch, tag or commit.")
    parser.add_argument("--host", default=None, help="Interface to listen on (default 127.0.0.1, 0.0.0.0 on Spaces).")
    parser.add_argument("--port", type=int, default=None, help="Port (default 7860 or $GRADIO_SERVER_PORT).")
    parser.add_argument("--share", action="store_true", help="Also open a public gradio.live link.")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Serve the app at once, then load the model (the server answers meanwhile); exit 2 when it cannot load."""
    args = build_parser().parse_args(argv)
    loader = model_loader(args.model, args.revision)
    demo = None
    try:
        demo = build_app(loader, dataset=args.dataset or os.environ.get(DATASET_ENV))
        demo.launch(
            server_name=args.host, server_port=args.port, share=args.share, max_file_size="100mb",
            prevent_thread_lock=True,
        )
        loader.start().get()
    except Exception as error:
        from deepfake_detection import ModelNotAvailableError

        if not isinstance(error, ModelNotAvailableError):
            raise
        if demo is not None:
            demo.close()
        print(f"error: {error}", file=sys.stderr)
        return 2
    demo.block_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())
