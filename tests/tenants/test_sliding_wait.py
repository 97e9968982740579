"""Retry-After for the sliding minute (routerhub.tenants.usage.sliding_wait_s), hand-computed: a
client that waits what it says is admitted, and not much later than it could have been."""
import pytest

from routerhub.tenants.usage import WINDOW_S, sliding_wait_s


def estimate(prev, now, into, wait):
    """The sliding count `wait` seconds later, nothing else sent."""
    t = into + wait
    if t <= WINDOW_S:
        return prev * (1 - t / WINDOW_S) + now
    return now * (1 - (t - WINDOW_S) / WINDOW_S)


@pytest.mark.parametrize("prev, now, into, need, limit, expected", [
    (0, 2, 10, 1, 3, 0.0),          # fits now
    (3, 0, 53, 1, 3, 0.0),          # 3 * (1 - 53/60) = 0.35: fits now
    (3, 0, 10, 1, 3, 10.0),         # 3 * (1 - t/60) <= 2 -> t = 20 -> 10 s from 10
    (3, 3, 53, 1, 3, 7.0 + 20.0),   # full minute now: next minute, 3 * (1 - y/60) <= 2 -> y = 20
    (0, 3, 30, 1, 3, 30.0 + 20.0),
    (6, 0, 0, 1, 3, 40.0),          # 6 * (1 - t/60) <= 2 -> t = 40
    (0, 0, 5, 100, 50, float(WINDOW_S)),  # never fits: a minute
])
def test_hand_computed(prev, now, into, need, limit, expected):
    wait = sliding_wait_s(prev=prev, now=now, into=into, need=need, limit=limit)
    assert wait == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("prev, now, into", [(3, 3, 53), (5, 1, 10), (2, 3, 59), (10, 0, 30), (0, 3, 1)])
def test_after_the_wait_the_request_fits_and_not_a_second_earlier(prev, now, into):
    limit, need = 3, 1
    wait = sliding_wait_s(prev=prev, now=now, into=into, need=need, limit=limit)
    assert estimate(prev, now, into, wait) + need <= limit + 1e-9
    if wait >= 1:
        assert estimate(prev, now, into, wait - 1) + need > limit
