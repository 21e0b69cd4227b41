"""Where the Space keeps visitors' uploads on disk, and when they go: removed when the app stops (returns, Ctrl-C or
SIGTERM), and what an instance that was killed or crashed left behind is removed when the next one starts.

Gradio saves uploads, and the images it serves, under `GRADIO_TEMP_DIR` (by default `<tmp>/gradio`, shared with
every other Gradio app), and its `delete_cache` deletes only the files its running server still remembers. So each
instance gets a folder of its own, `<that folder>/deepfake-detection-space/instance-XXXX/`, made `GRADIO_TEMP_DIR`
before the app is built, and holds an exclusive lock on a file in it while it runs: a folder whose lock nobody holds
belongs to an instance that has stopped. Nothing outside `deepfake-detection-space/` is ever removed, and the folder of
an instance that is still running (another port, another process) is never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import IO, Iterator

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so other instances' folders are left alone
    fcntl = None

APP_FOLDER = "deepfake-detection-space"
"""This app's folder inside Gradio's upload folder: the parent of every instance's."""
INSTANCE_PREFIX = "instance-"
LOCK_FILE = ".running.lock"
TEMP_DIR_ENV = "GRADIO_TEMP_DIR"
CACHE_CLEANUP = (600, 1800)
"""Gradio's `delete_cache` while the app runs: every 10 minutes, delete uploads and generated images older than 30."""


def app_folder(base: str | os.PathLike | None = None) -> Path:
    """This app's folder under `base` (default: Gradio's upload folder, `$GRADIO_TEMP_DIR` or `<tmp>/gradio`)."""
    if base is None:
        from gradio.utils import get_upload_folder

        base = get_upload_folder()
    return Path(base) / APP_FOLDER


def remove_stopped(root: Path) -> list[Path]:
    """Remove the instance folders under `root` whose instance has stopped (nobody holds their lock); the removed."""
    removed = []
    if fcntl is None or not root.is_dir():
        return removed
    for folder in root.iterdir():
        if not folder.name.startswith(INSTANCE_PREFIX) or folder.is_symlink() or not folder.is_dir():
            continue
        try:
            with open(folder / LOCK_FILE, "a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # taken: its instance is gone
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        except OSError:  # held by a running instance, or unreadable: not ours to remove
            continue
    return removed


def _new_instance_folder(root: Path) -> tuple[Path, IO[bytes]]:
    """A new instance folder, already locked: made under a name `remove_stopped` ignores, then renamed."""
    staging = Path(tempfile.mkdtemp(prefix="starting-", dir=root))
    lock = open(staging / LOCK_FILE, "a+b")
    if fcntl is not None:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    folder = root / (INSTANCE_PREFIX + staging.name.removeprefix("starting-"))
    staging.rename(folder)
    return folder, lock


def _stop_on_sigterm():
    """Make SIGTERM stop the app as Ctrl-C does (a `KeyboardInterrupt` in the main thread), so its cleanup runs;
    the previous handler, to restore (`None` off the main thread, where handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum, frame):
        raise KeyboardInterrupt(f"stopped by signal {signum}")

    return signal.signal(signal.SIGTERM, stop)


@contextlib.contextmanager
def instance_uploads(base: str | os.PathLike | None = None) -> Iterator[Path]:
    """This instance's upload folder, made `GRADIO_TEMP_DIR` while the app runs (build the app inside) and removed
    with everything in it when the block ends, SIGTERM included; stopped instances' folders are removed first."""
    root = app_folder(base)
    root.mkdir(parents=True, exist_ok=True)
    remove_stopped(root)
    folder, lock = _new_instance_folder(root)
    previous_dir, previous_handler = os.environ.get(TEMP_DIR_ENV), _stop_on_sigterm()
    os.environ[TEMP_DIR_ENV] = str(folder)
    try:
        yield folder
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
        shutil.rmtree(folder, ignore_errors=True)
        lock.close()
        if previous_dir is None:
            os.environ.pop(TEMP_DIR_ENV, None)
        else:
            os.environ[TEMP_DIR_ENV] = previous_dir
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
