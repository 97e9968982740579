"""`make run`'s supervisor: the whole stack comes up healthy, a killed worker comes back while the
API keeps answering, and SIGTERM stops every process."""
import hashlib
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil
import pytest
from celery import Celery

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
                            cwd=REPO, env=env, stdout=(tmp_path / "runstack.log").open("w"), stderr=subprocess.STDOUT)
    try:
        health = wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=60, proc=proc, expect=200)
        assert health.json() == {"ok": True, "down": []}  # anonymous: up or down, no versions
        assert httpx.get(f"http://127.0.0.1:{port}/admin/login/").status_code == 200
        # the simulated upstream starts beside the web server, not before it: it may answer a moment later
        assert wait_for_http(f"http://127.0.0.1:{sim_port}/v1/models", timeout=30, proc=proc).status_code == 200
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 4  # gunicorn, worker, beat, simulated upstream (+ their workers)

        # kill -9 the Celery worker: the API keeps answering, and a worker is back and consuming
        time.sleep(6)  # past the supervisor's start-up grace (5 s): a death now is a crash, not a broken setup
        worker = _celery(proc, "worker")
        worker.kill()
        # the stack's own Celery namespace (settings_test: a key prefix per state dir)
        # (not the current app: the test process's own tasks must keep going through routerhub's)
        control = Celery(broker=settings.CELERY_BROKER_URL, set_as_current=False, broker_transport_options={
            "global_keyprefix": f"routerhub-test-{hashlib.sha1(str(tmp_path).encode()).hexdigest()[:8]}:"})
        answers, deadline, back = [], time.monotonic() + 30, None
        while time.monotonic() < deadline and back is None:
            answers.append(httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code)
            replacement = _celery(proc, "worker")
            if replacement is not None and replacement.pid != worker.pid:
                pong = control.control.ping(destination=[f"routerhub@{socket.gethostname()}"], timeout=1.0)
                back = replacement if pong else None
            time.sleep(0.5)
        control.close()
        assert back is not None, "no worker answering 30 s after the kill"
        assert set(answers) == {200}  # the API never stopped
        children = psutil.Process(proc.pid).children(recursive=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    output = (tmp_path / "runstack.log").read_text()
    assert proc.returncode == 0, output
    assert "worker exited with -9" in output and "restarting worker" in output
    assert "all processes stopped" in output
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []
    assert (tmp_path / "demo-credentials.txt").exists()
    assert (real_credentials.read_bytes() if real_credentials.exists() else None) == before


def _celery(runstack: subprocess.Popen, role: str):
    """runstack's Celery `role` process (worker or beat), the one it started itself."""
    for child in psutil.Process(runstack.pid).children():
        try:
            if "celery" in " ".join(child.cmdline()) and role in child.cmdline():
                return child
        except psutil.NoSuchProcess:
            continue
    return None
