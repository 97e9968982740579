"""`make run`'s supervisor: the whole stack comes up healthy and SIGTERM stops every process."""
import signal
import subprocess
import sys

import httpx
import psutil
import pytest

from tests.support.paths import REPO
from tests.support.processes import child_env, free_port, wait_for_http


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_runstack_serves_health_and_admin_and_stops_everything_on_sigterm(tmp_path, settings):
    port, sim_port = free_port(), free_port()
    # a state dir of its own: the demo credentials it seeds into the test database must not land
    # in the developer's var/demo-credentials.txt (the embedder's ONNX export is shared)
    env = child_env(ROUTERHUB_MODEL_CACHE_DIR=str(settings.ROUTERHUB_MODEL_CACHE_DIR))
    env["ROUTERHUB_STATE_DIR"] = str(tmp_path)
    real_credentials = settings.STATE_DIR / "demo-credentials.txt"
    before = real_credentials.read_bytes() if real_credentials.exists() else None
    proc = subprocess.Popen([sys.executable, str(REPO / "manage.py"), "runstack", "--port", str(port),
                             "--sim-port", str(sim_port), "--web-workers", "1"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        health = wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=60, proc=proc, expect=200)
        assert health.json() == {"ok": True, "down": []}  # anonymous: up or down, no versions
        assert httpx.get(f"http://127.0.0.1:{port}/admin/login/").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{sim_port}/v1/models").status_code == 200
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 4  # gunicorn, worker, beat, simulated upstream (+ their workers)
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "all processes stopped" in output
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []
    assert (tmp_path / "demo-credentials.txt").exists()
    assert (real_credentials.read_bytes() if real_credentials.exists() else None) == before
