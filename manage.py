#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import signal
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "routerhub.settings")
    # SIGTERM ends a command like Ctrl-C does, so exit handlers (embedded servers) run.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    from routerhub.embedded import environment_ensure

    environment_ensure()  # the embedded Postgres and Redis, unless DATABASE_URL / CELERY_BROKER_URL name servers
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
