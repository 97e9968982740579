"""The README's examples run as written (issue 14): every ```python block, against a freshly seeded
service (demo tenant, demo router), with only the base URL and the key filled in."""
from __future__ import annotations

import contextlib
import io
import re

import pytest

from routerhub.gateway import routing
from routerhub.tenants.services import demo_seed
from tests.support.paths import REPO
from training.demo import demo_router_ensure

pytestmark = pytest.mark.django_db(transaction=True)
KEY = "rh-readme-example-key"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)


def test_the_readme_has_python_examples():
    assert _python_blocks()


@pytest.mark.parametrize("block", range(len(_python_blocks())))
def test_a_readme_python_example_runs_as_written(block, live_server, sim):
    demo_seed(upstream_base_url=sim, admin_user="admin", admin_password="pw-readme", demo_api_key=KEY)
    demo_router_ensure(log=lambda line: None)
    routing.registry.reload()
    code = _python_blocks()[block]
    assert "http://127.0.0.1:8000/v1" in code and "<tenant key>" in code
    code = code.replace("http://127.0.0.1:8000/v1", live_server.url + "/v1").replace("<tenant key>", KEY)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, f"README.md python block {block}", "exec"), {"__name__": "readme_example"})
    lines = printed.getvalue().splitlines()
    assert lines and "None" not in lines[0]  # a routed answer: the model and its win rate
