"""`manage.py bench_routing`: the routing benchmark runs and prints its figures."""
import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_bench_routing_runs_and_prints_its_figures(capsys):
    call_command("bench_routing", "--sizes", "600", "--k", "50", "--repeat", "5", "--runtimes", "onnx")
    out = capsys.readouterr().out
    for line in ("single-query embedding", "SW scoring, 600 synthetic battles", "k=   50: p50",
                 "MF scoring (embedding excluded): p50", "decisions per second"):
        assert line in out
