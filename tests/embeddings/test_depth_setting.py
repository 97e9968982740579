"""`ROUTERHUB_EMBEDDING_LAYERS`: the embedder's depth, 2 unless set; a value that is no depth of the
model stops the process at start, naming the variable (else every request would be answered by the
strong model with "embedding failed")."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.paths import REPO
from tests.support.processes import child_env

SHOW = ("import django; django.setup(); from django.conf import settings; "
        "from routerhub.embeddings.services import _embedder_from_settings; "
        "print(settings.ROUTERHUB_EMBEDDING_LAYERS, _embedder_from_settings().name)")


def _settings(value: str | None) -> subprocess.CompletedProcess:
    environment = child_env(ROUTERHUB_ENV_FILE="off")
    environment.pop("ROUTERHUB_EMBEDDING_LAYERS", None)
    if value is not None:
        environment["ROUTERHUB_EMBEDDING_LAYERS"] = value
    return subprocess.run([sys.executable, "-c", SHOW], cwd=REPO, env=environment, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("value, shown", [(None, "2 all-minilm-l6-v2-L2c-int8pc-tail"),
                                          ("", "2 all-minilm-l6-v2-L2c-int8pc-tail"),
                                          ("6", "6 all-minilm-l6-v2-int8pc-tail"),
                                          ("3", "3 all-minilm-l6-v2-L3c-int8pc-tail")])
def test_the_depth_is_2_unless_set_and_names_the_embedder(value, shown):
    result = _settings(value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == shown


@pytest.mark.parametrize("value", ["0", "7", "abc", "2.5"])
def test_a_value_that_is_no_depth_stops_the_process_naming_the_variable(value):
    result = _settings(value)
    assert result.returncode != 0
    assert f"ImproperlyConfigured: ROUTERHUB_EMBEDDING_LAYERS={value}: use 1 to 6" in result.stderr
