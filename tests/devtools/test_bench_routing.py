"""`manage.py bench_routing`: the routing benchmark runs and prints its figures."""
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


@pytest.mark.django_db
def test_bench_routing_runs_and_prints_its_figures(capsys):
    call_command("bench_routing", "--sizes", "600", "--k", "50", "--repeat", "5", "--runtimes", "onnx")
    out = capsys.readouterr().out
    for line in ("single-query embedding", "SW scoring, 600 synthetic battles", "k=   50: p50",
                 "MF scoring (embedding excluded): p50", "decisions per second"):
        assert line in out


@pytest.mark.django_db
def test_bench_routing_times_each_depth_asked_and_refuses_one_the_model_has_not(capsys):
    call_command("bench_routing", "--sizes", "600", "--k", "50", "--repeat", "5", "--runtimes", "onnx-int8",
                 "--layers", "6,2")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("onnx-int8")]
    assert [line.split()[:2] for line in lines] == [["onnx-int8", "22"], ["onnx-int8", "L2c"]]
    for raw in ("7", "0,2", "two", ""):
        with pytest.raises(CommandError, match="--layers") as refused:
            call_command("bench_routing", "--layers", raw)
        assert refused.value.returncode == 2
