"""Named degradations for robustness runs: deterministic, what their names say, and a clear error for unknown ones."""

import numpy as np
import pytest
from model_factory import astronaut

from deepfake_detection.degradations import check_degradation, degrade


def test_half_jpeg50_halves_the_image_and_recompresses_it():
    image = astronaut()
    out = degrade(image, "half-jpeg50")
    assert out.size == (image.width // 2, image.height // 2) and out.mode == "RGB"
    only_half = np.asarray(degrade(image, "half"), dtype=int)
    assert np.abs(np.asarray(out, dtype=int) - only_half).mean() > 1  # the JPEG step changed the pixels
    assert np.array_equal(np.asarray(out), np.asarray(degrade(image, "half-jpeg50")))  # deterministic


def test_jpeg_alone_keeps_the_size_and_none_is_the_image_itself():
    image = astronaut()
    assert degrade(image, "jpeg75").size == image.size
    assert degrade(image, None) is image
    assert degrade(image, "quarter").size == (128, 128)


@pytest.mark.parametrize("name", ["half-jpeg", "jpeg0", "jpeg101", "double", "", "half-jpeg50-extra"])
def test_unknown_degradations_name_the_ones_that_exist(name):
    with pytest.raises(ValueError, match="half-jpeg50"):
        check_degradation(name)
