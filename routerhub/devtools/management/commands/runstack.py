"""`make run`: the whole service in one foreground process tree.

This process owns the embedded Postgres and Redis (when no DATABASE_URL / CELERY_BROKER_URL is
set, manage.py started or attached them: routerhub.embedded), migrates, seeds the demo, and supervises gunicorn, a
Celery worker, Celery beat and the simulated upstream, all pointed at the same servers
(`routerhub.devtools.supervisor`): a child that dies is restarted with backoff while the others keep
running; one that dies while the stack starts stops it. Ctrl-C or SIGTERM stops the children, then
the embedded servers.
"""
from __future__ import annotations

import os
import signal
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from routerhub.devtools.frontproxy import nginx_binary, nginx_command
from routerhub.devtools.processes import free_port
from routerhub.devtools.supervisor import Supervisor
from training.runs import bootstrap_files, bootstrap_queue


class Command(BaseCommand):
    help = "Run web (gunicorn), Celery worker and beat, and the simulated upstream, after migrate + seed_demo."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--bind", default=os.environ.get("ROUTERHUB_BIND", "127.0.0.1"))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_WORKERS", 2)))
        parser.add_argument("--web-threads", type=int, default=int(os.environ.get("WEB_THREADS", 8)))
        parser.add_argument("--sim-port", type=int, default=int(os.environ.get("ROUTERHUB_SIM_PORT", 9100)))
        parser.add_argument("--no-sim", action="store_true", help="Do not start the simulated upstream.")

    def handle(self, *args, **opts):
        started = time.monotonic()
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("runstack: database migrated")
        os.environ.setdefault("ROUTERHUB_SIM_UPSTREAM_URL", f"http://127.0.0.1:{opts['sim_port']}/v1")
        call_command("seed_demo")
        call_command("demo_router")  # `model="router"` routes from the first request (training/demo.py)
        bootstrap = bootstrap_files()
        if bootstrap:  # absolute paths for the worker, which imports and trains in the background
            os.environ["ROUTERHUB_BOOTSTRAP_DATA"] = ",".join(str(path) for path in bootstrap)
            run = bootstrap_queue(via="make run: ROUTERHUB_BOOTSTRAP_DATA")
            self.stdout.write(
                f"runstack: training run {run.pk} queued: imports what is new in {len(bootstrap)} bootstrap file(s) "
                f"and trains real versions in the background (console: Training)" if run else
                f"runstack: the {len(bootstrap)} bootstrap file(s) were imported and trained on before")

        env = dict(os.environ, DATABASE_URL=settings.DATABASE_URL,
                   CELERY_BROKER_URL=settings.CELERY_BROKER_URL, ROUTERHUB_STATE_DIR=str(settings.STATE_DIR),
                   PYTHONUNBUFFERED="1")
        py, manage = sys.executable, str(settings.BASE_DIR / "manage.py")
        celery = [py, "-m", "celery", "-A", "routerhub"]
        nginx = nginx_binary()
        web_bind = f"{opts['bind']}:{opts['port']}"
        if nginx:  # nginx faces the clients and buffers each request; gunicorn listens on loopback behind it
            web_bind = f"127.0.0.1:{free_port()}"
            env["ROUTERHUB_TRUST_X_FORWARDED_FOR"] = "1"  # nginx sets it to the client's address
        commands = {
            "web": [py, "-m", "gunicorn", "routerhub.wsgi:application",
                    "--bind", web_bind, "--worker-class", "gthread",
                    "--workers", str(opts["web_workers"]), "--threads", str(opts["web_threads"]),
                    "--timeout", "120", "--graceful-timeout", "10", "--access-logfile", "-",
                    "--config", "python:routerhub.gunicorn_conf",  # loads embedder + routers per worker
                    "--no-control-socket"],  # gunicorn 27 would share one socket path per user
            "worker": celery + ["worker", "-Q", "default,training", "--concurrency", "2", "-l", "INFO",
                                "-n", "routerhub@%h"],
            "beat": celery + ["beat", "-l", "INFO", "-S", "django_celery_beat.schedulers:DatabaseScheduler",
                              "--pidfile", ""],
        }
        if nginx:
            commands["proxy"] = nginx_command(nginx, settings.STATE_DIR / "nginx",
                                              listen=f"{opts['bind']}:{opts['port']}", upstream=web_bind)
        if not opts["no_sim"]:
            commands["sim-upstream"] = [py, manage, "sim_upstream", "--port", str(opts["sim_port"])]

        supervisor = Supervisor(commands, env=env, cwd=settings.BASE_DIR, log=self.stderr.write)
        stopping = False

        def stop(signum=None, frame=None):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            supervisor.start()
            self.stdout.write(self.style.SUCCESS(
                f"runstack: web on http://{opts['bind']}:{opts['port']}/ (admin at /admin/, health at /healthz"
                f"{'; nginx in front' if nginx else '; no nginx installed: gunicorn faces clients itself'}), "
                f"worker, beat{', simulated upstream on :' + str(opts['sim_port']) if not opts['no_sim'] else ''}; "
                f"started in {time.monotonic() - started:.1f}s; the web answers once its workers have loaded "
                f"(/healthz). Ctrl-C stops everything."))
            while not stopping and supervisor.poll():
                time.sleep(0.3)
        finally:
            supervisor.stop()
            self.stdout.write("runstack: all processes stopped")
            # The embedded Postgres and Redis (if this process started them) stop at interpreter exit.
        if supervisor.failed:
            raise CommandError(supervisor.failed, returncode=1)
        return None
