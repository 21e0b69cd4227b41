"""How `benchmark.py` measures: threads, the matmul rate, FLOP counts, peak memory, timed paths, profiles and the
Space's time to ready. Nothing here knows the two paths it measures; `benchmark.py` hands it callables."""

from __future__ import annotations

import contextlib
import cProfile
import os
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

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
SPACE_APP = ROOT / "space" / "app.py"

# -- The machine ------------------------------------------------------------------------------------------------


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
        """The peak RSS in MiB: since the last reset (`VmHWM`), else the process-wide peak (`ru_maxrss`)."""
        status = Path("/proc/self/status")
        if status.is_file():
            match = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
            if match:
                return int(match.group(1)) / 1024
        scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is in bytes on macOS, KiB on Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


# -- Timing the paths -------------------------------------------------------------------------------------------


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
    return {
        name: (timing(per_item[name], busy[name], peaks[name], chunk), outputs[name])
        for name, (_, chunk) in steps.items()
    }


def timing(per_item_s: Sequence[float], busy_s: float, peak_mib: float, chunk: int) -> dict:
    """One path's timing figures from its per-item seconds (each call's time shared by its items) and busy time."""
    latencies = np.asarray(per_item_s) * 1000
    return {
        "items": len(per_item_s),
        "batch_size": chunk,
        "total_s": busy_s,
        "images_per_s": len(per_item_s) / busy_s,
        "latency_ms": {"median": float(np.median(latencies)), "p90": float(np.percentile(latencies, 90))},
        "latency_per": "image" if chunk == 1 else f"image, amortised: each call's time / its {chunk} images",
        "peak_rss_mib": peak_mib,
    }


# -- Profiling --------------------------------------------------------------------------------------------------

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


def cold_predict_seconds(model_folder: Path, image: str) -> dict:
    """Wall time of a fresh `deepfake-detection predict IMAGE` process, from launch to its answer (imports, model and
    detector loading, one image): what a user waits for on the command line."""
    command = [sys.executable, "-m", "deepfake_detection.cli", "predict", image, "--model", str(model_folder)]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, env=environment)
    seconds = time.perf_counter() - start
    if finished.returncode != 0:
        return {"error": f"exit code {finished.returncode}: {finished.stderr[-800:]}", "command": command}
    return {"seconds": seconds, "command": command}


def space_time_to_ready(model_folder: Path, dataset: Path | None = None, image: str | None = None,
                        timeout: float = 180.0) -> dict:
    """Start `space/app.py` on a free port and time until its page answers and, given `image`, until a first visitor
    has its analysis (`/analyze`); `skipped` when the app does not exist."""
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
                            ready = time.perf_counter() - start
                            figures = {"time_to_ready_s": ready, "url": url, "command": command}
                            if image is not None:
                                try:
                                    first_answer(url, image)
                                    figures["time_to_first_answer_s"] = time.perf_counter() - start
                                except Exception as error:  # noqa: BLE001 - reported, the other figures are kept
                                    figures["error"] = f"the first /analyze request failed: {error}"
                            return figures
                time.sleep(0.1)
            return {"error": f"the Space did not answer on {url} within {timeout:.0f} s", "command": command}
        finally:
            stop(process)


def first_answer(url: str, image: str) -> dict:
    """One visitor's analysis of `image` through the Space's public API."""
    from gradio_client import Client, handle_file

    from deepfake_detection import DeepfakeDetectorConfig

    client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
    try:
        return client.predict(handle_file(image), DeepfakeDetectorConfig().threshold, api_name="/analyze")
    finally:
        client.close()


def stop(process: subprocess.Popen) -> None:
    """Terminate a started process, killing it when it does not exit within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
