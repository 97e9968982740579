"""`manage.py minilm_centers`: the shallow depths' mean vectors that `MiniLMEmbedder` centres on."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from training.core.datasets import parse_file
from training.core.embeddings import CENTERS_FILE, MiniLMEmbedder

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# made by `minilm_centers ../shared/data/train/* --out training/core/minilm_centers.json` (2026-12-04)
SHIPPED_DIGEST = "d93dde82c11b945650e7b3bd7025e82278ce55a6e5fa627d6eac546a978b2cb4"


def test_it_writes_the_mean_of_the_raw_vectors_of_the_files_distinct_prompts(tmp_path, settings):
    out = tmp_path / "centers.json"
    call_command("minilm_centers", str(FIXTURES / "battles.jsonl"), "--layers", "1", "--out", str(out))
    document = json.loads(out.read_text())
    prompts = sorted({battle.prompt for battle in parse_file(FIXTURES / "battles.jsonl").battles})
    assert document["prompts"] == len(prompts) and list(document["centers"]) == ["1"]
    raw = MiniLMEmbedder(layers=1, center=False, cache_dir=settings.ROUTERHUB_MODEL_CACHE_DIR).embed(prompts)
    np.testing.assert_allclose(document["centers"]["1"], raw.mean(axis=0), atol=1e-6)


def test_the_shipped_file_has_a_centre_for_every_shallower_depth_and_is_the_one_measured():
    """The centres are part of the default embedder's vector space: a changed file without a new
    embedder name would leave every stored vector off by the difference."""
    assert hashlib.sha256(CENTERS_FILE.read_bytes()).hexdigest() == SHIPPED_DIGEST, (
        "minilm_centers.json changed: rename the embedder (MiniLMEmbedder.name) so stores re-embed, then update "
        "SHIPPED_DIGEST")
    centers = json.loads(CENTERS_FILE.read_text())["centers"]
    assert sorted(centers, key=int) == ["1", "2", "3", "4", "5"]
    for vector in centers.values():
        assert len(vector) == 384 and 0.3 < np.linalg.norm(vector) < 1.0  # a common direction, not noise


@pytest.mark.parametrize("layers", ["6", "0,2", "two", ""])
def test_a_depth_without_a_centre_exits_2_and_writes_nothing(tmp_path, layers):
    with pytest.raises(CommandError, match="--layers") as refused:
        call_command("minilm_centers", str(FIXTURES / "battles.jsonl"), "--layers", layers,
                     "--out", str(tmp_path / "centers.json"))
    assert refused.value.returncode == 2 and not (tmp_path / "centers.json").exists()


@pytest.mark.parametrize("out, says", [("/no/such/dir/centers.json", "no such directory"),
                                       ("{tmp}", "a directory, not a file")])
def test_an_out_path_it_cannot_write_exits_2_before_any_work(tmp_path, out, says):
    with pytest.raises(CommandError, match=says) as refused:
        call_command("minilm_centers", str(FIXTURES / "battles.jsonl"), "--layers", "1",
                     "--out", out.format(tmp=tmp_path))
    assert refused.value.returncode == 2


@pytest.mark.parametrize("path", ["/no/such/file.jsonl", str(FIXTURES / "not_a_format.txt")])
def test_a_file_it_cannot_read_exits_2_and_writes_nothing(tmp_path, path):
    with pytest.raises(CommandError) as refused:
        call_command("minilm_centers", path, "--layers", "1", "--out", str(tmp_path / "centers.json"))
    assert refused.value.returncode == 2 and not (tmp_path / "centers.json").exists()
