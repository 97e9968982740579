"""`.ci/run` is what CI runs: it must at least be valid bash and end in the README's test command."""
import subprocess

from tests.support.paths import REPO


def test_the_ci_script_parses_and_runs_the_test_command():
    script = REPO / ".ci" / "run"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    assert script.read_text().rstrip().splitlines()[-1] == "make test"
