import os

from django.conf import settings
from django.core.management.base import BaseCommand

from routerhub.tenants.services import demo_seed


class Command(BaseCommand):
    help = ("Create (idempotently) a staff user, the demo tenant with an API key, and the strong and weak "
            "endpoints on the simulated upstream. Credentials come from ROUTERHUB_ADMIN_USER, "
            "ROUTERHUB_ADMIN_PASSWORD and ROUTERHUB_DEMO_API_KEY, or are generated and shown once.")

    def add_arguments(self, parser):
        parser.add_argument("--upstream-base-url", default=os.environ.get(
            "ROUTERHUB_SIM_UPSTREAM_URL", f"http://127.0.0.1:{os.environ.get('ROUTERHUB_SIM_PORT', '9100')}/v1"))

    def handle(self, *args, **opts):
        result = demo_seed(
            upstream_base_url=opts["upstream_base_url"],
            admin_user=os.environ.get("ROUTERHUB_ADMIN_USER", "admin"),
            admin_password=os.environ.get("ROUTERHUB_ADMIN_PASSWORD") or None,
            demo_api_key=os.environ.get("ROUTERHUB_DEMO_API_KEY") or None,
        )
        self.stdout.write("seed_demo: " + (", ".join(result.created) if result.created else "nothing to create"))
        shown = []
        if result.admin_password:
            shown.append(f"admin user: {result.admin_user}  password: {result.admin_password}")
        if result.api_key:
            shown.append(f"demo tenant API key: {result.api_key}")
        if shown:
            # Shown once; also kept (mode 600) in the state dir so `make run` users can find them.
            path = settings.STATE_DIR / "demo-credentials.txt"
            with open(path, "a") as handle:
                handle.write("\n".join(shown) + "\n")
            path.chmod(0o600)
            self.stdout.write(self.style.WARNING("\n".join(shown) + f"\n(also written to {path})"))
