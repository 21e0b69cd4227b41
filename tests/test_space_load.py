"""A bounded load test of the Space on 127.0.0.1: many fresh visitors and concurrent ones, memory that stays flat.

The app runs in its own process (so its memory is measured alone); 200 requests come from fresh clients, then 8
clients at once. Every result must equal the pipeline's. After a warm-up long enough for the allocator to reach its
working size (about 150 visitors here), the server's RSS is sampled every 20 fresh clients and its trend (a
Theil-Sen slope, robust to the +-15 MB of sampling noise) may be at most 0.6 MB per client. Clean-clone CI runs
measured up to 0.41 (the RSS climbs in allocator-sized steps, and gradio keeps per-session state), so 0.3 failed
now and then with nothing leaking; a leaked frame, heatmap or model copy per visitor (megabytes each) is still far
above 0.6. Latencies (p50, p95) are printed, not asserted: speed is the benchmark's business.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from model_factory import astronaut
from PIL import Image, ImageOps
from scipy.stats import theilslopes

from deepfake_detection import load_pipeline
from hub_server import free_port

ROOT = Path(__file__).resolve().parents[1]
WARM_UP_CLIENTS = 150
FRESH_CLIENTS = 200
CLIENTS_PER_SAMPLE = 20
CONCURRENT_CLIENTS = 8
FRESH_WORKERS = 4
MAX_GROWTH_PER_CLIENT_MB = 0.6


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def served_app(model_dir, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("space-log") / "app.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "space" / "app.py"), "--model", str(model_dir), "--port", str(port),
             "--dataset", str(tmp_path_factory.mktemp("no-examples"))],
            stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            assert process.poll() is None, log.read_text()[-3000:]
            time.sleep(0.3)
    yield process, url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def load_images(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("load-images")
    base = astronaut().resize((256, 256))
    paths = []
    for index, image in enumerate([base, ImageOps.mirror(base), base.rotate(6), base.crop((10, 0, 256, 246))]):
        paths.append(folder / f"face_{index}.png")
        image.save(paths[-1])
    return paths


def analyse_as_new_visitor(url: str, path: Path) -> tuple[dict, float]:
    started = time.perf_counter()
    client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
    try:
        return client.predict(handle_file(str(path)), 0.7, api_name="/analyze"), time.perf_counter() - started
    finally:
        client.close()


def test_many_fresh_and_concurrent_visitors_get_their_results_and_memory_stays_bounded(
    served_app, model_dir, load_images
):
    process, url = served_app
    expected = [load_pipeline(model_dir)(Image.open(path))["faces"][0]["score"] for path in load_images]
    with ThreadPoolExecutor(FRESH_WORKERS) as pool:
        list(pool.map(lambda i: analyse_as_new_visitor(url, load_images[i % len(load_images)]), range(WARM_UP_CLIENTS)))
    visits, samples = [], [rss_mb(process.pid)]
    with ThreadPoolExecutor(FRESH_WORKERS) as pool:  # fresh clients, a few at a time: the Space's queue is busy
        for start in range(0, FRESH_CLIENTS, CLIENTS_PER_SAMPLE):
            visits += pool.map(lambda i: analyse_as_new_visitor(url, load_images[i % len(load_images)]),
                               range(start, start + CLIENTS_PER_SAMPLE))
            samples.append(rss_mb(process.pid))
    latencies = [seconds for _, seconds in visits]
    for index, (result, _) in enumerate(visits):
        assert result["faces"][0]["score"] == pytest.approx(expected[index % len(load_images)], abs=1e-5)
    growth = theilslopes(samples, np.arange(len(samples)) * CLIENTS_PER_SAMPLE).slope

    with ThreadPoolExecutor(CONCURRENT_CLIENTS) as pool:
        paths = [load_images[index % len(load_images)] for index in range(CONCURRENT_CLIENTS)]
        concurrent = list(pool.map(lambda path: analyse_as_new_visitor(url, path), paths))
    for index, (result, _) in enumerate(concurrent):
        assert result["faces"][0]["score"] == pytest.approx(expected[index % len(load_images)], abs=1e-5)

    p50, p95 = np.percentile(latencies, [50, 95])
    print(f"\nSpace load: {FRESH_CLIENTS} fresh clients, p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
          f"RSS trend {growth:.3f} MB per client (samples {[round(mb) for mb in samples]}); "
          f"{CONCURRENT_CLIENTS} concurrent clients all correct")
    assert growth <= MAX_GROWTH_PER_CLIENT_MB, f"RSS grows {growth:.2f} MB per fresh client: {samples}"
