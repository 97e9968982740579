"""gunicorn settings for the web process (`--config python:routerhub.gunicorn_conf`).

Each worker loads the embedder and the active routers once, in a thread after it starts, so the
first requests do not pay for loading (they wait for the same load if they come first).
"""
import os
import threading

from routerhub.envfile import envfile_load

envfile_load()  # before the defaults below, so `.env` can set them

# Web workers serve many requests at once: one thread per embedding call uses the cores better
# than two (README, gateway figures). Set ROUTERHUB_EMBEDDING_THREADS to override.
os.environ.setdefault("ROUTERHUB_EMBEDDING_THREADS", "1")
# likewise torch's and the BLAS's own thread pools (the bert router's encoder pass, numpy): many
# requests at once share the cores better one thread each
os.environ.setdefault("OMP_NUM_THREADS", "1")
# no request waits on one database statement for longer than this (routerhub.settings)
os.environ.setdefault("ROUTERHUB_DB_STATEMENT_TIMEOUT_MS", "15000")

# /metrics sees every worker: prometheus-client's multiprocess mode, one folder per gunicorn master
# (emptied at start, removed at exit), so two servers on one state dir keep their counts apart
_state = os.environ.get("ROUTERHUB_STATE_DIR") or os.path.join(os.path.dirname(os.path.dirname(__file__)), "var")
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(_state, "prometheus", str(os.getpid())))


def on_starting(server):
    import shutil

    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    import shutil

    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


worker_class = "gthread"
timeout = 120  # a worker busy loading a large SW index is not stuck
# headers up to 1 MiB reach Django, whose HeaderLimitMiddleware answers anything over 16 KiB with a
# 431 in the API's JSON (gunicorn's own refusal, at 8 KiB by default, is an HTML page)
limit_request_field_size = 1024 * 1024


def post_worker_init(worker):
    # the thread reserve: at most threads - ROUTERHUB_RESERVED_THREADS requests wait on upstreams at
    # once, so /healthz and the rest always find a thread (routerhub/gateway/capacity.py)
    from routerhub.gateway.capacity import upstream_slots_set

    reserved = int(os.environ.get("ROUTERHUB_RESERVED_THREADS", 2))
    upstream_slots_set(max(1, worker.cfg.threads - reserved))

    def warm():
        try:
            from routerhub.gateway.warmup import serving_warm

            serving_warm()
        except Exception:  # a failed warm-up only means the first request loads instead
            worker.log.exception("serving warm-up failed")

    threading.Thread(target=warm, name="routerhub-warmup", daemon=True).start()
