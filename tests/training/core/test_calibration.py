"""Thresholds from a target strong share (`training.core.calibration`)."""
import numpy as np
import pytest

from training.core.calibration import strong_share_at, threshold_for_strong_share


def test_calibrated_threshold_gives_the_target_share():
    win_rates = np.linspace(0, 1, 101)
    threshold = threshold_for_strong_share(win_rates, 0.3)
    assert threshold == pytest.approx(0.7)
    assert strong_share_at(win_rates, threshold) == pytest.approx(0.31, abs=0.011)
    with pytest.raises(ValueError):
        threshold_for_strong_share(win_rates, 1.5)
