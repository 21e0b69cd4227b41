"""Named, deterministic image degradations for measuring robustness: what a messaging app or a web page does to a
photo before anyone asks whether it is real (`evaluate --degrade NAME`).

Each applies to the whole image before face detection, the same way whatever the label, so the metrics of a
degraded run differ from the clean run only by what the degradation does.
"""

from __future__ import annotations

import io
import re

from PIL import Image

DEGRADATION_PATTERN = re.compile(r"^(?:(?P<size>half|third|quarter)-?)?(?:jpeg(?P<quality>\d{1,3}))?$")
SCALES = {"half": 2, "third": 3, "quarter": 4}
EXAMPLE_DEGRADATIONS = ("half-jpeg50", "jpeg75", "half", "quarter-jpeg30")
"""Names `--degrade` takes: an optional shrink (half, third, quarter: area-averaged) then an optional JPEG
re-save at a quality of 1-100, e.g. the ones listed here."""


def check_degradation(name: str | None) -> None:
    """Raise `ValueError` unless `name` is None or a degradation `degrade` understands, naming examples."""
    if name is None:
        return
    match = DEGRADATION_PATTERN.match(name)
    quality = match and match["quality"]
    if not match or not (match["size"] or quality) or (quality and not 1 <= int(quality) <= 100):
        raise ValueError(f"Unknown degradation {name!r}: use an optional shrink (half, third, quarter) and/or a JPEG "
                         f"quality of 1-100, e.g. {', '.join(EXAMPLE_DEGRADATIONS)}.")


def degrade(image: Image.Image, name: str | None) -> Image.Image:
    """The image shrunk and/or re-saved as JPEG as `name` says (None: the image itself)."""
    if name is None:
        return image
    check_degradation(name)
    match = DEGRADATION_PATTERN.match(name)
    out = image.convert("RGB")
    if match["size"]:
        factor = SCALES[match["size"]]
        out = out.resize((max(1, round(out.width / factor)), max(1, round(out.height / factor))), Image.BOX)
    if match["quality"]:
        buffer = io.BytesIO()
        out.save(buffer, format="JPEG", quality=int(match["quality"]))
        buffer.seek(0)
        out = Image.open(buffer)
        out.load()
    return out
