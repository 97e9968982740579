"""nginx in front of gunicorn for `make run` (and the benchmarks), from the same template as
docker-compose (routerhub/ops/nginx.conf.template): it buffers every request whole, so slow
clients cannot hold gunicorn's threads. Used when an `nginx` binary is installed and
ROUTERHUB_FRONT_PROXY is not `off`; without it gunicorn faces clients itself (README, Reliability).
"""
from __future__ import annotations

import grp
import os
import pwd
import shutil
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent / "ops" / "nginx.conf.template"


def nginx_binary() -> str | None:
    """The nginx to start in front of gunicorn, or None (not installed, or turned off)."""
    if os.environ.get("ROUTERHUB_FRONT_PROXY", "").lower() in ("off", "0", "false", "no"):
        return None
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)


def render(template: str, values: dict[str, str]) -> str:
    """Fill ${NAME} as envsubst does for the names given (nginx's own $variables stay)."""
    for name, value in values.items():
        template = template.replace("${" + name + "}", value)
    return template


def nginx_command(nginx: str, directory: Path, *, listen: str, upstream: str) -> list[str]:
    """Write the configuration under `directory` and return the command that runs nginx in the
    foreground with it: listening on `listen` (host:port), passing to `upstream` (host:port or
    unix:/path)."""
    directory = Path(directory).resolve()
    temp = directory / "tmp"
    temp.mkdir(parents=True, exist_ok=True)
    user_line = ""
    if os.geteuid() == 0:  # nginx started as root runs its workers unprivileged, as nobody
        nobody = pwd.getpwnam("nobody")
        user_line = f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};"
        for path in [temp, *temp.iterdir()]:
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
    conf = directory / "nginx.conf"
    conf.write_text(render(TEMPLATE.read_text(), {
        "NGINX_USER_LINE": user_line, "NGINX_PID_PATH": str(directory / "nginx.pid"),
        "NGINX_ERROR_LOG": "stderr", "NGINX_TEMP_DIR": str(temp),
        "ROUTERHUB_WEB_UPSTREAM": upstream, "ROUTERHUB_PROXY_LISTEN": listen}))
    return [nginx, "-p", str(directory), "-c", str(conf), "-g", "daemon off;"]
