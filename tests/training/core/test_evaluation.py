"""The promotion gate (`training.core.evaluation.gate_passes`), as a plain function."""
from training.core.evaluation import gate_passes


def test_the_gate():
    set_metrics = lambda apgr: {"a.jsonl": {"apgr": apgr}, "held-out preferences": {"apgr": apgr}}  # noqa: E731
    assert gate_passes({"candidate": set_metrics(0.6)}, margin=0.01)  # nothing active yet
    assert gate_passes({"candidate": set_metrics(0.62), "active": {"version": 1, **set_metrics(0.6)}}, margin=0.01)
    assert not gate_passes({"candidate": set_metrics(0.605), "active": {"version": 1, **set_metrics(0.6)}},
                           margin=0.01)
    mixed = {"candidate": {"a.jsonl": {"apgr": 0.7}, "held-out preferences": {"apgr": 0.5}},
             "active": {"version": 1, "a.jsonl": {"apgr": 0.6}, "held-out preferences": {"apgr": 0.6}}}
    assert not gate_passes(mixed, margin=0.01)  # must beat it on every set
    assert not gate_passes({"candidate": {}}, margin=0.0)
