"""Reading images from every kind of input, and finding the image files in folders.

Every failure to read an input becomes an `ImageLoadError` that names the input and says what to do, so a batch can
report it and go on. Images are limited to `MAX_PIXELS` (checked from the header, before decoding), downloads to
`DEFAULT_TIMEOUT_S` seconds, and 16-bit and float inputs are scaled to 8 bits rather than clipped.
"""

from __future__ import annotations

import io
import os
import time
import warnings
from pathlib import Path
from typing import Sequence, Union

import numpy as np
from PIL import Image, ImageOps

from .errors import ImageLoadError

ImageInput = Union[str, os.PathLike, Image.Image, np.ndarray, bytes]

MAX_PIXELS = 40_000_000
"""Largest image analysed, in pixels (40 megapixels): larger ones are refused before they are decoded."""
DEFAULT_TIMEOUT_S = 10.0
"""How long a whole URL download may take, in seconds, unless the caller passes its own `timeout`."""
MAX_DOWNLOAD_BYTES = 100_000_000
"""Largest download accepted from a URL (100 MB)."""
URL_PREFIXES = ("http://", "https://")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jfif", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def load_image(image: ImageInput, timeout: float | None = None) -> Image.Image:
    """Read a path, URL, bytes, PIL image or array as an RGB PIL image (EXIF orientation applied).

    Raises `ImageLoadError` with the reason when the input is not a readable image, is larger than `MAX_PIXELS`, or
    (for a URL) does not arrive within `timeout` seconds (default `DEFAULT_TIMEOUT_S`).
    """
    if isinstance(image, np.ndarray):
        return _array_to_image(image)
    if isinstance(image, Image.Image):
        source, opener = f"the given {image.mode} image", lambda: _Borrowed(image)
    elif isinstance(image, bytes):
        source, opener = "the given bytes", lambda: Image.open(io.BytesIO(image))
    elif isinstance(image, (str, os.PathLike)):
        source = str(image)
        if source.startswith(URL_PREFIXES):
            return _load_url(source, DEFAULT_TIMEOUT_S if timeout is None else timeout)
        check_file(source, ImageLoadError, "image")
        opener = lambda: Image.open(source)  # noqa: E731
    else:
        raise ImageLoadError(
            f"Cannot read an image from a {type(image).__name__}: pass a path, URL, bytes, PIL image or numpy array."
        )
    return _decode(source, opener)


class _Borrowed:
    """A caller's PIL image used as a context manager without closing it."""

    def __init__(self, image: Image.Image):
        self.image = image

    def __enter__(self) -> Image.Image:
        return self.image

    def __exit__(self, *exc) -> None:
        return None


def _decode(source: str, opener) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # ours is the clearer message
            with opener() as opened:
                check_size(source, *opened.size)
                check_single_page(source, opened)
                opened.load()
                return to_rgb(ImageOps.exif_transpose(opened))
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageLoadError(f"{source}: image too large ({error}). Downscale it first.") from error
    except Exception as error:  # decoders fail in many ways (OSError, SyntaxError, struct.error, ...): all unreadable
        raise ImageLoadError(f"{source}: not a readable image ({error}). Use a JPEG, PNG or WebP file.") from error


def check_file(source: str, error: type[ImageLoadError], what: str) -> None:
    """Raise `error` unless `path` is a regular file (the one rule for images and videos): a missing file, a broken
    link, a folder, and a FIFO, socket or device (reading one would block or never end) each get their own reason."""
    path = Path(source)
    try:
        if path.is_symlink() and not path.exists():
            raise error(f"{source}: a broken or looping symbolic link. Point it at an {what} file.")
        if not path.exists():
            raise error(f"{source}: no such file. Check the path.")
        if path.is_dir():
            raise error(f"{source}: a folder, not a file. Pass an {what} file (the command line reads folders).")
        if not path.is_file():
            raise error(f"{source}: not a regular file (a FIFO, socket or device). Pass an {what} file.")
    except OSError as failure:  # permission denied, name too long, ...
        raise error(f"{source}: cannot be read ({failure}).") from failure


def size_problem(width: int, height: int, what: str = "images") -> str | None:
    """Why a picture of `width`x`height` is not analysed (over `MAX_PIXELS`), or `None`: the one size rule, for images
    and video frames alike."""
    if width * height <= MAX_PIXELS:
        return None
    return (f"{width}x{height} pixels ({width * height / 1e6:.0f} megapixels); {what} up to "
            f"{MAX_PIXELS / 1e6:.0f} megapixels are analysed")


def check_size(source: str, width: int, height: int) -> None:
    """Refuse images over `MAX_PIXELS`, saying how large they are and what to do."""
    problem = size_problem(width, height)
    if problem:
        raise ImageLoadError(f"{source} is {problem}. Downscale it and try again.")


def check_single_page(source: str, image: Image.Image) -> None:
    """Refuse multi-page TIFFs (scans, stacks): which page is meant is unknown, and analysing page 1 alone would hide
    the others. Animated GIF and WebP files are read from their first frame, as image viewers show them."""
    if image.format == "TIFF" and getattr(image, "is_animated", False):
        raise ImageLoadError(
            f"{source}: a TIFF with several pages; one image is analysed at a time. Save the page to analyse as its "
            "own file (e.g. PNG) and pass that."
        )


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with 16- and 32-bit integer and float images scaled to 8 bits instead of clipped to white."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I") or image.mode == "F":
        return _array_to_image(np.asarray(image))
    return image.convert("RGB")


def _array_to_image(array: np.ndarray) -> Image.Image:
    """An HxW, HxWx3 or HxWx4 array as RGB: integers scaled by their type's range, floats in [0, 1] or [0, 255]."""
    source = f"an array of shape {array.shape} and dtype {array.dtype}"
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4) or 0 in array.shape:
        raise ImageLoadError(f"{source}: an image array must be HxW, HxWx1, HxWx3 (RGB) or HxWx4, and not empty.")
    check_size(source, array.shape[1], array.shape[0])
    array = array[..., :3] if array.shape[2] > 1 else array.repeat(3, axis=2)
    if array.dtype == np.uint8:
        return Image.fromarray(np.ascontiguousarray(array))
    if array.dtype == np.bool_:
        return Image.fromarray(array.astype(np.uint8) * 255)
    if np.issubdtype(array.dtype, np.integer):
        peak = int(array.max())
        if (array.dtype.kind == "u" and array.dtype.itemsize == 2) or 255 < peak <= 65535:
            top = 65535  # 16-bit data, also when PIL holds it in 32-bit "I" mode
        else:
            top = 255 if peak <= 255 else np.iinfo(array.dtype).max
        scaled = np.clip(array, 0, None).astype(np.float64) * (255.0 / top)
    elif np.issubdtype(array.dtype, np.floating):
        finite = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        scaled = finite * 255.0 if finite.max() <= 1.0 else finite
    else:
        raise ImageLoadError(f"{source}: pixel values must be integers or floats. Convert the array first.")
    return Image.fromarray(np.clip(scaled + 0.5, 0, 255).astype(np.uint8))


def _load_url(url: str, timeout: float) -> Image.Image:
    """Download with `timeout` seconds for the whole transfer and at most `MAX_DOWNLOAD_BYTES`, then decode."""
    import httpx

    if not timeout > 0:
        raise ImageLoadError(f"{url}: the download timeout must be a positive number of seconds, got {timeout!r}.")
    deadline = time.monotonic() + timeout
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            response.raise_for_status()
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > MAX_DOWNLOAD_BYTES:
                    raise ImageLoadError(f"{url}: larger than {MAX_DOWNLOAD_BYTES // 1_000_000} MB. Download it first.")
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("the transfer took too long")
    except ImageLoadError:
        raise
    except httpx.TimeoutException as error:
        raise ImageLoadError(f"{url}: no answer within {timeout:g} s. Check the URL, or pass a longer timeout.") from error
    except Exception as error:  # invalid URLs, refused connections, HTTP errors: all mean "could not download"
        raise ImageLoadError(f"{url}: could not download an image ({error}). Check the URL.") from error
    return _decode(url, lambda: Image.open(io.BytesIO(bytes(body))))


def is_url(path: str | os.PathLike) -> bool:
    """Whether `path` is an http(s) URL rather than a local path."""
    return str(path).startswith(URL_PREFIXES)


def input_name(image: ImageInput, position: int) -> str:
    """How an error names one input of a list: its path or URL, else its place in the list (1-based) and type."""
    if isinstance(image, (str, os.PathLike)):
        return str(image)
    return f"list item {position + 1} ({type(image).__name__})"


def find_images(paths: Sequence[str | os.PathLike], suffixes: Sequence[str] = IMAGE_SUFFIXES) -> list[str | Path]:
    """Expand folders into the files they hold with one of `suffixes` (recursively, sorted; images by default, add
    `video.VIDEO_SUFFIXES` for videos); files and URLs are kept as given.

    Symbolic links with an image suffix are kept even when broken, and FIFOs, sockets and devices too, so that reading
    them reports why instead of skipping them without a word.
    """
    found: list[str | Path] = []
    for path in paths:
        if is_url(path):
            found.append(str(path))
        elif Path(path).is_dir():
            found.extend(sorted(p for p in Path(path).rglob("*") if p.suffix.lower() in suffixes
                                and (p.is_symlink() or not p.is_dir())))
        else:
            found.append(Path(path))
    return found
