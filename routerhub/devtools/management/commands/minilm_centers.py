"""`python manage.py minilm_centers FILE... --out OUT`: the mean vector of each shallower MiniLM
depth over the distinct prompts of preference files, as `training/core/minilm_centers.json` holds
them.

`MiniLMEmbedder(layers=k)` with k < 6 subtracts that vector from its outputs and renormalizes
(README: The embedder's depth). The shipped file was made from ../shared/data/train/* with the
fp32 ONNX model (`--out` that file reproduces it exactly). A depth's centre is part of its vector
space, so changing the file changes the space: rename the embedder (`MiniLMEmbedder.name`), or
every stored vector of that depth is off by the difference; a test pins the file's digest.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from training.core.datasets import UnknownFormat, parse_file
from training.core.embeddings import CENTERS_FILE, LAYERS, MiniLMEmbedder


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE", help="Preference files (any format import_preferences reads).")
        parser.add_argument("--layers", default=",".join(str(k) for k in range(1, LAYERS)),
                            help=f"Depths to average (1 to {LAYERS - 1}, comma-separated).")
        parser.add_argument("--out", required=True, metavar="FILE",
                            help=f"Where to write (the shipped file is {CENTERS_FILE.relative_to(CENTERS_FILE.parents[2])}; "
                                 "changing it changes the default embedder's vectors).")

    def handle(self, *args, **opts):
        try:
            depths = sorted({int(k) for k in opts["layers"].split(",")})
        except ValueError:
            depths = []
        if not depths or not all(1 <= k < LAYERS for k in depths):
            raise CommandError(f"--layers {opts['layers']!r}: comma-separated depths from 1 to {LAYERS - 1}",
                               returncode=2)
        out = Path(opts["out"])
        if out.is_dir():
            raise CommandError(f"--out {out}: a directory, not a file", returncode=2)
        if not out.parent.is_dir():
            raise CommandError(f"--out {out}: no such directory", returncode=2)
        prompts: set[str] = set()
        for path in opts["files"]:
            try:
                prompts.update(battle.prompt for battle in parse_file(path).battles)
            except UnknownFormat as exc:  # a file that cannot be read or parsed, a missing one too
                raise CommandError(str(exc), returncode=2) from None
        if not prompts:
            raise CommandError("no prompts in those files", returncode=2)
        texts = sorted(prompts)
        centers = {}
        for k in depths:
            embedder = MiniLMEmbedder(layers=k, center=False, cache_dir=settings.ROUTERHUB_MODEL_CACHE_DIR)
            mean = embedder.embed(texts, progress=True).astype(np.float64).mean(axis=0)
            centers[str(k)] = [round(float(x), 7) for x in mean]
            self.stdout.write(f"{k} layers: mean vector of {len(texts)} prompts, norm {np.linalg.norm(mean):.3f}")
        document = {"about": "mean fp32 output of MiniLM's first k layers over distinct training prompts "
                             "(manage.py minilm_centers)",
                    "files": [Path(path).name for path in opts["files"]], "prompts": len(texts), "centers": centers}
        out.write_text(json.dumps(document) + "\n")
        self.stdout.write(f"wrote {out}")
