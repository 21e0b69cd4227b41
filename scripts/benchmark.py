"""Benchmark: the original app's per-image path against this package's, on the same images and weights, in one run.

    python scripts/benchmark.py [--images DIR] [--crops DIR] [--repeat N] [--output JSON] [--model PATH] [--set K=V]

Three jobs, each run by both paths: evaluation throughput (detect + classify, no Grad-CAM) on the full-HD frames of
`--images`; single-image analysis with Grad-CAM (per-image latency); face-crop classification throughput on the
224x224 crops of `--crops`. Also measured in the same run: the fp32 matmul rate, the classifier's FLOPs, each phase's
peak memory, the score differences between the paths (default settings and parity mode), where the package's time
goes (cProfile), and the Space's time to ready. Prints a table and writes every figure to `--output` (JSON).

Without `--model`, both paths use one model with seeded random weights whose batch-norm statistics and final layer
are set on the first crops (so scores spread over (0, 1)); its scores mean nothing about deepfakes.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import platform
import pstats
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from facenet_pytorch import MTCNN, InceptionResnetV1
from PIL import Image
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch.utils.flop_counter import FlopCounterMode
from transformers.utils import logging as transformers_logging

from deepfake_detection import (
    DeepfakeDetectorImageProcessor,
    ModelNotAvailableError,
    load_image,
    load_pipeline,
)
from deepfake_detection.images import find_images
from deepfake_detection.testing import random_model, save_model

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
DEFAULT_IMAGES = SHARED_DATA / "ffpp-examples"
DEFAULT_CROPS = SHARED_DATA / "dfdc-faces" / "validation"
SPACE_APP = ROOT / "space" / "app.py"

PARITY_SETTINGS = {"detection_max_side": None}
"""Config settings of the package's parity mode: everything as the original app computes it."""
TARGETS = {"evaluation_speedup": 5.0, "explain_speedup": 4.0, "crop_flop_bound_ratio": 1.5}
SCORE_TOLERANCES = {"run": 1e-3, "parity": 1e-5}
"""Limits on the max abs score difference from the seed path: with this run's package settings (1e-3 holds for the
default settings; opt-in `--set` settings such as `detection_max_side` may exceed it) and in parity mode."""
JOB_TITLES = {
    "evaluation": "Evaluation (detect + classify)",
    "explain": "Single image + Grad-CAM",
    "crops": "Face-crop classification",
}


# -- The original app's path ------------------------------------------------------------------------------------


class SeedApp:
    """The original app's per-image computation, re-created with facenet-pytorch and pytorch-grad-cam directly.

    Deliberately written the seed's way (one image at a time, full-resolution MTCNN, 160 -> 256 upsampling, Grad-CAM
    then a second forward pass for the score), never with this package, so it is an independent reference.
    """

    def __init__(self, state_dict: dict[str, torch.Tensor]):
        self.mtcnn = MTCNN(select_largest=False, post_process=False).eval()
        self.model = InceptionResnetV1(classify=True, num_classes=1)
        self.model.load_state_dict(state_dict)
        self.model.eval()

    def face(self, image: Image.Image) -> tuple[torch.Tensor | None, np.ndarray | None]:
        """`mtcnn(image)` (detect, keep the most confident face, extract its 160 crop), also returning the box."""
        boxes, probs, points = self.mtcnn.detect(image, landmarks=True)
        boxes, probs, points = self.mtcnn.select_boxes(
            boxes, probs, points, image, method=self.mtcnn.selection_method
        )
        face = self.mtcnn.extract(image, boxes, None)
        return face, None if boxes is None else np.asarray(boxes[0], dtype=np.float64)

    @staticmethod
    def model_input(face: torch.Tensor) -> torch.Tensor:
        """The 160 crop (0-255) as the classifier's input: upsampled to 256 bilinearly and divided by 255."""
        face = F.interpolate(face.unsqueeze(0), size=(256, 256), mode="bilinear", align_corners=False)
        return face.to(torch.float32) / 255.0

    def score(self, face: torch.Tensor) -> float:
        """The sigmoid score of one classifier input, from a forward pass under `no_grad`."""
        with torch.no_grad():
            return torch.sigmoid(self.model(face).squeeze(0)).item()

    def explain(self, face: torch.Tensor) -> np.ndarray:
        """The seed's Grad-CAM heatmap on `block8.branch1[-1]` and its overlay on the face (the overlay is dropped)."""
        with GradCAM(model=self.model, target_layers=[self.model.block8.branch1[-1]]) as cam:
            heatmap = cam(input_tensor=face, targets=[ClassifierOutputTarget(0)], eigen_smooth=True)[0, :]
        previous_face = (face * 255.0).squeeze(0).permute(1, 2, 0).detach().int().numpy().astype("uint8")
        face_to_plot = face.squeeze(0).permute(1, 2, 0).detach().int().numpy()
        visualization = show_cam_on_image(face_to_plot, heatmap, use_rgb=True)
        cv2.addWeighted(previous_face, 1, visualization, 0.5, 0)
        return heatmap

    def analyse(self, path: str | os.PathLike, explain: bool) -> dict:
        """One image from disk, as the app handles an upload: `{"score", "box"}` of its most confident face."""
        image = Image.open(path).convert("RGB")
        face, box = self.face(image)
        if face is None:
            return {"score": None, "box": None}
        face = self.model_input(face)
        if explain:
            self.explain(face)
        return {"score": self.score(face), "box": box}

    def classify_crop(self, path: str | os.PathLike) -> float:
        """A ready face crop from disk, brought to the 160 crop as MTCNN cuts it (PIL bilinear), then scored."""
        crop = Image.open(path).convert("RGB").resize((160, 160), Image.BILINEAR)
        face = torch.from_numpy(np.asarray(crop, dtype=np.float32)).permute(2, 0, 1)
        return self.score(self.model_input(face))


# -- Machine, model and measurement helpers ----------------------------------------------------------------------


def set_threads(threads: int) -> dict:
    """Set PyTorch's intra-op (and, when still possible, inter-op) thread counts; return what is in effect."""
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # inter-op threads can only be set before any parallel work
        torch.set_num_interop_threads(threads)
    return {
        "torch_intra_op": torch.get_num_threads(),
        "torch_inter_op": torch.get_num_interop_threads(),
        "cpu_count": os.cpu_count(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }


def matmul_gflops(size: int = 2048, runs: int = 5) -> dict:
    """The measured fp32 `torch.matmul` rate on `size` x `size` matrices: best and median over `runs` timed runs."""
    a, b = torch.rand(size, size), torch.rand(size, size)
    torch.matmul(a, b)
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        torch.matmul(a, b)
        rates.append(2 * size**3 / (time.perf_counter() - start) / 1e9)
    return {"size": size, "runs": runs, "gflops_per_s": max(rates), "median_gflops_per_s": float(np.median(rates))}


def classifier_gflop(model: torch.nn.Module, image_size: int = 256) -> float:
    """The classifier's GFLOP for one image, counted by `FlopCounterMode` on one forward pass (2 FLOP per MAC)."""
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.rand(1, 3, image_size, image_size))
    return counter.get_total_flops() / 1e9


class PeakMemory:
    """Peak resident memory (RSS) of this process during a `with` block, in MiB (`peak_mib`).

    On Linux the kernel's high-water mark (`VmHWM`) is reset when the block starts, through `/proc/self/clear_refs`,
    so each block gets its own peak; where that is impossible it is the process-wide peak so far.
    """

    @staticmethod
    def method() -> str:
        """How the peak is measured here."""
        if PeakMemory._reset():
            return "RSS high-water mark (VmHWM), reset before each measured call via /proc/self/clear_refs"
        return "getrusage ru_maxrss (process-wide peak so far)"

    @staticmethod
    def _reset() -> bool:
        try:
            Path("/proc/self/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    def __enter__(self) -> "PeakMemory":
        self._reset()
        return self

    def __exit__(self, *exc) -> None:
        self.peak_mib = self.read()

    @staticmethod
    def read() -> float:
        status = Path("/proc/self/status")
        if status.is_file():
            match = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
            if match:
                return int(match.group(1)) / 1024
        scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is in bytes on macOS, KiB on Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def time_paths(items: Sequence, steps: dict[str, tuple[Callable[[Sequence], list], int]], repeat: int) -> dict:
    """Time each path's `(step, chunk size)` over `items`, `repeat` times; return `{path: (timing, outputs)}`.

    The paths take turns block by block (the largest chunk size), in alternating order, so that both see the same
    machine load; outputs are those of the first pass, and peak memory is the highest over the path's own chunks.
    """
    block = max(chunk for _, chunk in steps.values())
    per_item = {name: [] for name in steps}
    outputs = {name: [] for name in steps}
    busy = dict.fromkeys(steps, 0.0)
    peaks = dict.fromkeys(steps, 0.0)
    for run in range(repeat):
        for turn, first in enumerate(range(0, len(items), block)):
            last = min(first + block, len(items))
            for name in list(steps) if turn % 2 == 0 else list(reversed(steps)):
                step, chunk = steps[name]
                for start in range(first, last, chunk):
                    part = items[start : min(start + chunk, last)]
                    with PeakMemory() as memory:
                        began = time.perf_counter()
                        result = step(part)
                        elapsed = time.perf_counter() - began
                    busy[name] += elapsed
                    peaks[name] = max(peaks[name], memory.peak_mib)
                    per_item[name].extend([elapsed / len(part)] * len(part))
                    if run == 0:
                        outputs[name].extend(result)
    timings = {}
    for name, (_, chunk) in steps.items():
        latencies = np.asarray(per_item[name]) * 1000
        timing = {
            "items": len(items) * repeat,
            "batch_size": chunk,
            "total_s": busy[name],
            "images_per_s": len(items) * repeat / busy[name],
            "latency_ms": {"median": float(np.median(latencies)), "p90": float(np.percentile(latencies, 90))},
            "latency_per": "image" if chunk == 1 else f"image, amortised: each call's time / its {chunk} images",
            "peak_rss_mib": peaks[name],
        }
        timings[name] = (timing, outputs[name])
    return timings


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two `(x1, y1, x2, y2)` boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def matching_face(seed: dict, result: dict) -> dict | None:
    """The package's face for the seed's most confident face: the one whose box overlaps it most (IoU > 0.5)."""
    if seed["box"] is None or not result["faces"]:
        return None
    best = max(result["faces"], key=lambda face: box_iou(seed["box"], face["box"]))
    return best if box_iou(seed["box"], best["box"]) > 0.5 else None


def score_differences(seed_results: list[dict], package_results: list[dict]) -> dict:
    """Max abs score difference over the images where both paths found the same face, and how many matched."""
    differences, ious = [], []
    for seed, result in zip(seed_results, package_results):
        face = matching_face(seed, result)
        if face is not None:
            differences.append(abs(face["score"] - seed["score"]))
            ious.append(box_iou(seed["box"], face["box"]))
    return {
        "max_abs_score_diff": max(differences) if differences else None,
        "matched_faces": len(differences),
        "images": len(seed_results),
        "min_box_iou": min(ious) if ious else None,
    }


# -- Profiling the package's path -------------------------------------------------------------------------------

PROFILE_STAGES = {
    "image loading": [("deepfake_detection/images.py", "load_image")],
    "face detection (MTCNN)": [("facenet_pytorch/models/utils/detect_face.py", "detect_face")],
    "crop extraction": [("facenet_pytorch/models/utils/detect_face.py", "extract_face")],
    "preprocessing (crop -> 256)": [("image_processing_deepfake_detector.py", "preprocess")],
    "classification": [("modeling_deepfake_detector.py", "scores")],
    "Grad-CAM (score + heatmap)": [("deepfake_detection/explain.py", "explain")],
    "overlays": [("deepfake_detection/explain.py", "face_overlay"), ("deepfake_detection/explain.py", "image_overlay")],
}
PROFILE_DETAILS = {
    "of which MTCNN image resampling (imresample)": [("facenet_pytorch/models/utils/detect_face.py", "imresample")],
}
"""Parts of a stage, shown under it and not counted twice."""
PROFILED_LIBRARIES = ("deepfake_detection", "facenet_pytorch", "pytorch_grad_cam")


def profile(call: Callable[[], object], top: int = 12) -> dict:
    """Where `call` spends its time (cProfile, main thread only): seconds per pipeline stage and the top functions."""
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(call)
    total = time.perf_counter() - start
    stats = pstats.Stats(profiler).stats

    def seconds(places: list[tuple[str, str]]) -> float:
        return sum(
            cumulative
            for (filename, _, function), (_, _, _, cumulative, _) in stats.items()
            if any(filename.replace(os.sep, "/").endswith(suffix) and function == name for suffix, name in places)
        )

    stages = {stage: seconds(places) for stage, places in PROFILE_STAGES.items()}
    stages["other (pipeline glue, unprofiled threads)"] = max(total - sum(stages.values()), 0.0)
    ours = [
        (cumulative, f"{Path(filename).parent.name}/{Path(filename).name}:{function}")
        for (filename, _, function), (_, _, _, cumulative, _) in stats.items()
        if any(library in filename for library in PROFILED_LIBRARIES)
    ]
    return {
        "total_s": total,
        "stages_s": stages,
        "stages_fraction": {stage: part / total for stage, part in stages.items()},
        "details_s": {detail: seconds(places) for detail, places in PROFILE_DETAILS.items()},
        "top_functions_cumulative_s": {name: seconds for seconds, name in sorted(ours, reverse=True)[:top]},
    }


# -- The Space --------------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def space_time_to_ready(model_folder: Path, dataset: Path | None = None, timeout: float = 180.0) -> dict:
    """Start `space/app.py` on a free port and time until its page answers; `skipped` when the app does not exist."""
    if not SPACE_APP.is_file():
        return {"skipped": f"{SPACE_APP.relative_to(ROOT)} not found: the Space is not in this checkout."}
    port = free_port()
    command = [sys.executable, str(SPACE_APP), "--model", str(model_folder), "--port", str(port)]
    if dataset is not None:
        command += ["--dataset", str(dataset)]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
        try:
            while time.perf_counter() - start < timeout:
                if process.poll() is not None:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-800:]
                    return {"error": f"the Space exited with code {process.returncode}: {tail}", "command": command}
                with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
                    with urllib.request.urlopen(url, timeout=2) as response:
                        if response.status == 200:
                            return {"time_to_ready_s": time.perf_counter() - start, "url": url, "command": command}
                time.sleep(0.1)
            return {"error": f"the Space did not answer on {url} within {timeout:.0f} s", "command": command}
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- The jobs ---------------------------------------------------------------------------------------------------


def job_figures(timings: dict, speedup_by: str) -> dict:
    """A job's figures: both paths' timings and the package's speed-up (by throughput or by median latency)."""
    seed, package = timings["seed"][0], timings["package"][0]
    if speedup_by == "throughput":
        speedup = package["images_per_s"] / seed["images_per_s"]
    else:
        speedup = seed["latency_ms"]["median"] / package["latency_ms"]["median"]
    return {"seed": seed, "package": package, "speedup": speedup, "speedup_by": speedup_by}


def run_benchmark(
    frames: Sequence[Path],
    crops: Sequence[Path],
    model_folder: Path,
    repeat: int = 1,
    batch_size: int = 8,
    crop_batch_size: int = 8,
    explain_images: int = 8,
    settings: dict | None = None,
    matmul_size: int = 2048,
    space: bool = True,
    space_dataset: Path | None = None,
    log: Callable[[str], None] = lambda message: print(message, file=sys.stderr, flush=True),
) -> dict:
    """Run the three jobs with both paths on the same images and weights; return every figure as a JSON-able dict."""
    load_at_start = os.getloadavg()[0]
    settings = dict(settings or {})
    detector = load_pipeline(model_folder, model_kwargs=settings)
    parity = load_pipeline(model_folder, parity=True, model_kwargs=PARITY_SETTINGS)
    model, processor = detector.model, detector.image_processor
    seed = SeedApp(model.inception.state_dict())
    frames, crops = [str(path) for path in frames], [str(path) for path in crops]
    explained = frames[:: max(len(frames) // explain_images, 1)][:explain_images]

    def package_frames(explain: bool, pipeline=detector) -> Callable[[Sequence[str]], list]:
        return lambda paths: pipeline(list(paths), batch_size=len(paths), explain=explain)

    def seed_frames(explain: bool) -> Callable[[Sequence[str]], list]:
        return lambda paths: [seed.analyse(path, explain) for path in paths]

    def package_crops(paths: Sequence[str]) -> list:
        crops = [load_image(path) for path in paths]
        return [crop["score"] for crop in detector.classify_crops(crops, batch_size=len(crops))]

    def seed_crops(paths: Sequence[str]) -> list:
        return [seed.classify_crop(path) for path in paths]

    log("Measuring the fp32 matmul rate and the classifier's FLOPs")
    matmul = [matmul_gflops(matmul_size)]
    gflop = classifier_gflop(seed.model, model.config.image_size)

    log("Warming up both paths")
    seed_frames(True)(frames[:1])
    package_frames(True)(frames[:1])
    package_frames(False)(frames[:batch_size])
    seed_crops(crops[:1])
    package_crops(crops[:crop_batch_size])

    jobs = {}
    log(f"Evaluation job: {len(frames)} frames x {repeat}, seed one at a time, package in batches of {batch_size}")
    steps = {"seed": (seed_frames(False), 1), "package": (package_frames(False), batch_size)}
    timings = time_paths(frames, steps, repeat)
    log("Evaluation job: package in parity mode (not timed)")
    parity_results = package_frames(False, parity)(frames)
    jobs["evaluation"] = job_figures(timings, "throughput")
    jobs["evaluation"]["faces_classified"] = {
        "seed": sum(result["score"] is not None for result in timings["seed"][1]),
        "package": sum(result["num_faces"] for result in timings["package"][1]),
    }
    jobs["evaluation"]["scores"] = {
        "run": score_differences(timings["seed"][1], timings["package"][1]),
        "parity": score_differences(timings["seed"][1], parity_results),
    }

    log(f"Grad-CAM job: {len(explained)} frames x {repeat}, one image at a time")
    timings = time_paths(explained, {"seed": (seed_frames(True), 1), "package": (package_frames(True), 1)}, repeat)
    parity_results = [parity(path, explain=True) for path in explained]
    jobs["explain"] = job_figures(timings, "median latency")
    jobs["explain"]["scores"] = {
        "run": score_differences(timings["seed"][1], timings["package"][1]),
        "parity": score_differences(timings["seed"][1], parity_results),
    }

    log(f"Crop job: {len(crops)} crops x {repeat}, seed one at a time, package in batches of {crop_batch_size}")
    matmul.append(matmul_gflops(matmul_size))
    timings = time_paths(crops, {"seed": (seed_crops, 1), "package": (package_crops, crop_batch_size)}, repeat)
    pixel_values = processor([load_image(path) for path in crops[:crop_batch_size]])["pixel_values"]
    start = time.perf_counter()
    for _ in range(repeat):
        model.scores(pixel_values)
    classify_ms = (time.perf_counter() - start) / (repeat * len(pixel_values)) * 1000
    jobs["crops"] = job_figures(timings, "throughput")
    for path in ("seed", "package"):
        jobs["crops"][path]["classifier_gflops_per_s"] = gflop * jobs["crops"][path]["images_per_s"]
    seed_scores, package_scores = timings["seed"][1], timings["package"][1]
    jobs["crops"]["scores"] = {
        "run": {
            "max_abs_score_diff": float(np.max(np.abs(np.subtract(seed_scores, package_scores)))),
            "matched_faces": len(crops),
            "images": len(crops),
        }
    }
    peak_rate = max(run["gflops_per_s"] for run in matmul)
    bound_ms = gflop / peak_rate * 1000
    package_ms = 1000 / jobs["crops"]["package"]["images_per_s"]
    jobs["crops"]["flop_bound"] = {
        "bound_ms_per_image": bound_ms,
        "package_ms_per_image": package_ms,
        "ratio": package_ms / bound_ms,
        "classification_only_ms_per_image": classify_ms,
        "classification_only_ratio": classify_ms / bound_ms,
        "classification_only_gflops_per_s": gflop / classify_ms * 1000,
    }

    log("Profiling the package path (cProfile, not timed)")
    profiled = frames[: 2 * batch_size]
    profiles = {
        "evaluation": profile(
            lambda: [package_frames(False)(profiled[i : i + batch_size]) for i in range(0, len(profiled), batch_size)]
        ),
        "explain": profile(lambda: [package_frames(True)([path]) for path in explained[:3]]),
    }
    profiles["evaluation"]["images"], profiles["explain"]["images"] = len(profiled), len(explained[:3])
    load_at_end = os.getloadavg()[0]

    space_figures = {"skipped": "not requested"}
    if space:
        log("Timing the Space's start-up")
        space_figures = space_time_to_ready(model_folder, space_dataset)

    checks = {
        "evaluation_speedup": jobs["evaluation"]["speedup"] >= TARGETS["evaluation_speedup"],
        "explain_speedup": jobs["explain"]["speedup"] >= TARGETS["explain_speedup"],
        "crop_flop_bound_ratio": jobs["crops"]["flop_bound"]["ratio"] <= TARGETS["crop_flop_bound_ratio"],
    }
    for mode, tolerance in SCORE_TOLERANCES.items():
        differences = [job["scores"][mode]["max_abs_score_diff"] for job in jobs.values() if mode in job["scores"]]
        checks[f"score_diff_{mode}"] = all(d is not None and d <= tolerance for d in differences)
    with contextlib.ExitStack() as stack:
        sizes = {"x".join(map(str, stack.enter_context(Image.open(path)).size)) for path in frames}
    return {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": {"torch_intra_op": torch.get_num_threads(), "torch_inter_op": torch.get_num_interop_threads()},
            "load_average_1min": {"start": load_at_start, "end": load_at_end},
        },
        "inputs": {
            "frames": len(frames),
            "frame_sizes": sorted(sizes),
            "explain_frames": len(explained),
            "crops": len(crops),
            "repeat": repeat,
            "batch_size": batch_size,
            "crop_batch_size": crop_batch_size,
            "package_settings": settings,
            "parity_settings": PARITY_SETTINGS,
        },
        "compute": {
            "matmul": matmul,
            "matmul_gflops_per_s": peak_rate,
            "classifier_gflop_per_image": gflop,
            "classifier_gflop_source": "torch.utils.flop_counter.FlopCounterMode, one 256x256 forward pass",
            "flop_bound_ms_per_image": bound_ms,
        },
        "memory_method": PeakMemory.method(),
        "jobs": jobs,
        "profile": profiles,
        "space": space_figures,
        "targets": TARGETS,
        "score_tolerances": SCORE_TOLERANCES,
        "checks": checks,
    }


# -- Presentation -----------------------------------------------------------------------------------------------


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _diff(scores: dict, mode: str) -> str:
    value = scores.get(mode, {}).get("max_abs_score_diff")
    return "-" if value is None else f"{value:.1e}"


def report(figures: dict) -> str:
    """The benchmark's figures as readable markdown tables."""
    rows = []
    for name, job in figures["jobs"].items():
        for path in ("seed", "package"):
            timing = job[path]
            rows.append(
                [
                    JOB_TITLES[name] if path == "seed" else "",
                    path,
                    f"{timing['images_per_s']:.2f}",
                    f"{timing['latency_ms']['median']:.0f}",
                    f"{timing['latency_ms']['p90']:.0f}",
                    f"{timing['peak_rss_mib']:.0f}",
                    "" if path == "seed" else f"{job['speedup']:.1f}x",
                    "" if path == "seed" else f"{_diff(job['scores'], 'run')} / {_diff(job['scores'], 'parity')}",
                ]
            )
    headers = ["job", "path", "images/s", "median ms", "p90 ms", "peak RSS MiB", "speed-up"]
    headers += ["max abs score diff (run settings / parity)"]
    compute, crop_jobs = figures["compute"], figures["jobs"]["crops"]
    bound = crop_jobs["flop_bound"]
    threads = figures["machine"]["threads"]
    space = figures["space"]
    space_line = space.get("skipped") or space.get("error") or f"{space['time_to_ready_s']:.1f} s"
    load = figures["machine"]["load_average_1min"]
    lines = []
    if max(load.values()) > threads["torch_intra_op"] + 0.5:
        lines += [
            f"WARNING: the machine was busy (1-min load average {load['start']:.1f} at the start, {load['end']:.1f} at "
            "the end): other processes shared the cores, so the timings are pessimistic and noisy.",
            "",
        ]
    lines += [
        markdown_table(headers, rows),
        "",
        f"- fp32 matmul ({compute['matmul'][0]['size']}²): {compute['matmul_gflops_per_s']:.0f} GFLOP/s (best of "
        f"{sum(run['runs'] for run in compute['matmul'])} runs); classifier: "
        f"{compute['classifier_gflop_per_image']:.2f} GFLOP/image -> FLOP bound "
        f"{bound['bound_ms_per_image']:.0f} ms/image",
        f"- crop job, package: {bound['package_ms_per_image']:.0f} ms/image end to end = {bound['ratio']:.2f}x the "
        f"bound (target ≤ {figures['targets']['crop_flop_bound_ratio']}x); classification alone "
        f"{bound['classification_only_ms_per_image']:.0f} ms/image = {bound['classification_only_ratio']:.2f}x, "
        f"{bound['classification_only_gflops_per_s']:.0f} GFLOP/s",
        f"- classifier GFLOP/s in the crop job: seed {crop_jobs['seed']['classifier_gflops_per_s']:.0f}, "
        f"package {crop_jobs['package']['classifier_gflops_per_s']:.0f}",
        f"- Space time to ready: {space_line}",
        f"- threads: {threads['torch_intra_op']} intra-op, {threads['torch_inter_op']} inter-op; "
        f"peak memory: {figures['memory_method']}",
        "- checks: " + ", ".join(f"{name} {'ok' if ok else 'MISSED'}" for name, ok in figures["checks"].items()),
        "",
    ]
    for name, result in figures["profile"].items():
        stage_rows = [
            [stage, f"{seconds:.2f}", f"{result['stages_fraction'][stage]:.0%}"]
            for stage, seconds in result["stages_s"].items()
            if seconds > 0
        ]
        stage_rows += [
            [f"({detail})", f"{part:.2f}", f"{part / result['total_s']:.0%}"]
            for detail, part in result["details_s"].items()
            if part > 0
        ]
        lines += [
            f"Package path profile, {JOB_TITLES[name]}, {result['images']} images "
            f"({result['total_s']:.1f} s under cProfile):",
            "",
        ]
        lines += [markdown_table(["stage", "s", "share"], stage_rows), ""]
    return "\n".join(lines)


def select_frames(paths: Sequence[Path], resolution: str) -> list[Path]:
    """The images of the given `WIDTHxHEIGHT` (all of them for `any`)."""
    if resolution == "any":
        return list(paths)
    size = tuple(int(side) for side in resolution.lower().split("x"))
    selected = []
    for path in paths:
        with Image.open(path) as image:
            if image.size == size:
                selected.append(path)
    return selected


def parse_setting(text: str) -> tuple[str, object]:
    """`KEY=VALUE` with a JSON value (`null`, numbers, strings) into a config override."""
    key, separator, value = text.partition("=")
    if not separator:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="Folder of frames (default: %(default)s).")
    parser.add_argument("--resolution", default="1920x1080", help="Only frames of this WxH size, or 'any'.")
    parser.add_argument("--crops", type=Path, default=DEFAULT_CROPS, help="Folder of crops (default: %(default)s).")
    parser.add_argument("--num-crops", type=int, default=96, help="Crops used, spread over the folder (default 96).")
    parser.add_argument("--explain-images", type=int, default=8, help="Frames in the Grad-CAM job (default 8).")
    parser.add_argument("--repeat", type=int, default=2, help="Timed passes over each job's images (default 2).")
    parser.add_argument("--batch-size", type=int, default=8, help="Package path: frames per batch (default 8).")
    parser.add_argument("--crop-batch-size", type=int, default=8, help="Package path: crops per batch (default 8).")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="PyTorch threads (default: all cores).")
    parser.add_argument("--set", dest="settings", type=parse_setting, action="append", default=[], metavar="KEY=VALUE",
                        help="Config setting for the package path, e.g. --set detection_max_side=640 (repeatable).")
    parser.add_argument("--model", type=Path, default=None, help="Model folder (default: seeded random weights).")
    parser.add_argument("--no-space", action="store_true", help="Skip timing the Space's start-up.")
    parser.add_argument("--output", type=Path, default=Path("outputs/benchmark.json"), help="JSON output path.")
    args = parser.parse_args(argv)

    for folder, flag in ((args.images, "--images"), (args.crops, "--crops")):
        if not folder.is_dir():
            parser.error(f"{flag} {folder} is not a folder. Point it at a folder of images (see ../shared/data).")
    if args.model is not None and not args.model.is_dir():
        parser.error(f"--model {args.model} is not a folder. Pass a saved model folder, or leave --model out.")
    frames = select_frames(find_images([args.images]), args.resolution)
    all_crops = find_images([args.crops])
    crops = all_crops[:: max(len(all_crops) // args.num_crops, 1)][: args.num_crops]
    if not frames or not crops:
        parser.error(f"no {args.resolution} frames in {args.images} or no crops in {args.crops}; try --resolution any.")
    threads = set_threads(args.threads)
    transformers_logging.disable_progress_bar()

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="benchmark_model_") as scratch:
        model_folder = args.model
        if model_folder is None:
            calibration = DeepfakeDetectorImageProcessor()([load_image(path) for path in crops[:16]])["pixel_values"]
            model_folder = save_model(random_model(calibration, seed=0), Path(scratch))
        try:
            figures = run_benchmark(
                frames,
                crops,
                model_folder,
                repeat=args.repeat,
                batch_size=args.batch_size,
                crop_batch_size=args.crop_batch_size,
                explain_images=args.explain_images,
                settings=dict(args.settings),
                space=not args.no_space,
                space_dataset=args.images,
            )
        except ModelNotAvailableError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    figures["machine"]["threads"].update(threads)
    model = str(args.model or "seeded random weights (seed 0), calibrated on 16 crops")
    figures["inputs"].update(images=str(args.images), crops_folder=str(args.crops), model=model)
    figures["wall_time_s"] = time.perf_counter() - started
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2))
    print(report(figures))
    print(f"Every figure: {args.output} (run took {figures['wall_time_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
