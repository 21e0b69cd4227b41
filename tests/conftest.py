"""Shared pytest configuration.

Scripts: `scripts/` is put on `sys.path`, so tests import its modules by name (`seed_reference`, the original app's
re-creation and the stand-in models; `benchmark_measure`), as the scripts themselves do when run.

Hugging Face Hub: every test talks to a `LocalHub` (see `hub_server.py`) instead of huggingface.co. The
Hugging Face libraries read their settings from the environment when they are imported, so the environment
is set here, at import time, before any test module imports them; subprocesses started by tests inherit it
through `os.environ`. The cache (`HF_HOME`) is a fresh temporary directory for the session.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub_server import LocalHub, free_port

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

# -- Hugging Face Hub -----------------------------------------------------------------------------------

HF_TOKEN = "hf_local_test_token"
"""Dummy token: the local Hub accepts any token."""

_HUB = LocalHub(port=free_port())
_HF_HOME = tempfile.mkdtemp(prefix="hf_home_")

for _name in (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "HUGGINGFACE_CO_STAGING",
    "HUGGINGFACE_HUB_CACHE",
    "HF_TOKEN_PATH",
    "TRANSFORMERS_CACHE",
    "HF_HUB_ENABLE_HF_TRANSFER",
):
    os.environ.pop(_name, None)

os.environ.update(
    HF_ENDPOINT=_HUB.endpoint,
    HF_HOME=_HF_HOME,
    HF_HUB_CACHE=os.path.join(_HF_HOME, "hub"),
    HF_ASSETS_CACHE=os.path.join(_HF_HOME, "assets"),
    HF_DATASETS_CACHE=os.path.join(_HF_HOME, "datasets"),
    HF_MODULES_CACHE=os.path.join(_HF_HOME, "modules"),
    HF_XET_CACHE=os.path.join(_HF_HOME, "xet"),
    HF_TOKEN=HF_TOKEN,
    HF_HUB_DISABLE_XET="1",  # uploads must take the LFS path, which the local Hub implements
    HF_HUB_DISABLE_TELEMETRY="1",
    HF_HUB_DISABLE_PROGRESS_BARS="1",
    HF_DATASETS_DISABLE_PROGRESS_BARS="1",
    HF_HUB_DISABLE_UPDATE_CHECK="1",
)


@pytest.fixture(scope="session", autouse=True)
def _local_hub_server() -> Iterator[LocalHub]:
    """Serve the local Hub for the whole session; remove the session's `HF_HOME` afterwards."""
    with _HUB:
        yield _HUB
    shutil.rmtree(_HF_HOME, ignore_errors=True)


@pytest.fixture
def local_hub(_local_hub_server: LocalHub) -> LocalHub:
    """The running local Hub, at `local_hub.endpoint` (= `HF_ENDPOINT`). Repos persist across tests."""
    return _local_hub_server


# -- Shared example data and models ---------------------------------------------------------------------

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
requires_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"example data not found at {SHARED_DATA} (CI provides ../shared beside the checkout)"
)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved model folder (controlled random weights, see `model_factory.make_model`) with its processor config."""
    from model_factory import make_model, save_model

    return save_model(make_model(), tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def hub_model_id(_local_hub_server: LocalHub, model_dir: Path) -> str:
    """The `model_dir` model pushed to the local Hub, with its code, as `org/deepfake-detector`."""
    from deepfake_detection.hub import push_folder

    repo_id = "org/deepfake-detector"
    push_folder(model_dir, repo_id)
    return repo_id
