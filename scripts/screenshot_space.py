"""Screenshot the Space after it analysed a face: starts the app, uploads an image in headless Chromium, saves a PNG.

    python scripts/screenshot_space.py --model MODEL_FOLDER_OR_ID [--image face.jpg] [--output space/screenshot.png]

Drives Debian's Chromium (`apt-get install chromium`) through Playwright (`pip install playwright`; no browser
download: it runs /usr/bin/chromium). The app runs in this process on 127.0.0.1 and is closed afterwards.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def default_image(folder: Path) -> Path:
    """scikit-image's astronaut photo (one real face), written to `folder`."""
    from skimage import data

    path = folder / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


def screenshot(url: str, image: Path, output: Path, chromium: str, colors: int = 128, timeout_s: float = 120) -> Path:
    """Open the app, upload `image`, wait for the verdict and the Grad-CAM panels; save the page as a `colors` PNG."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="chromium-") as profile, sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        page = browser.new_page()
        page.goto(url, timeout=timeout_s * 1000)
        page.locator("input[type=file]").first.set_input_files(str(image))
        page.get_by_text("Verdict:").wait_for(timeout=timeout_s * 1000)
        page.get_by_text("Grad-CAM").last.wait_for(timeout=timeout_s * 1000)
        page.wait_for_function("Array.from(document.images).every(image => image.complete)", timeout=timeout_s * 1000)
        page.wait_for_timeout(1000)  # let the last images and bars paint
        captured = io.BytesIO(page.screenshot(full_page=True))
        browser.close()
    Image.open(captured).convert("RGB").quantize(colors).save(output, optimize=True)  # palette PNG: small in git
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="Local model folder or Hub repo id.")
    parser.add_argument("--dataset", default=None, help="Example dataset for the gallery (Hub id or folder).")
    parser.add_argument("--image", type=Path, default=None, help="Image to analyse (default: a photo of a face).")
    parser.add_argument("--output", type=Path, default=ROOT / "space" / "screenshot.png", help="PNG to write.")
    parser.add_argument("--port", type=int, default=None, help="Port of the app (default: 7860 or the next free one).")
    parser.add_argument("--colors", type=int, default=128, help="Palette size of the PNG (default 128: a small file).")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium", help="Browser.")
    args = parser.parse_args(argv)
    if not Path(args.chromium).is_file():
        message = f"no Chromium at {args.chromium}: apt-get install -y chromium, or pass --chromium."
        print(f"error: {message}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT / "space"))
    import app  # space/app.py

    demo = app.create_app(args.model, args.dataset)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=args.port, prevent_thread_lock=True, quiet=True)
    try:
        with tempfile.TemporaryDirectory() as folder:
            image = args.image or default_image(Path(folder))
            output = screenshot(url, image, args.output, args.chromium, args.colors)
    finally:
        demo.close()
    print(f"Screenshot: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
