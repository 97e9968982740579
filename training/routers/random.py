import numpy as np

from training.routers.base import Battles, Router


class RandomRouter(Router):
    """The baseline: a uniform random win rate per query (RouteLLM's `random` router)."""

    kind = "random"

    def __init__(self, random_state: int | None = None):
        self.random_state = random_state

    def fit(self, battles: Battles) -> "RandomRouter":
        self.models_ = list(battles.models)
        return self

    def predict_win_rate(self, query_embeddings, *, strong: str, weak: str) -> np.ndarray:
        rng = np.random.default_rng(self.random_state)
        return rng.uniform(size=len(np.atleast_2d(query_embeddings)))
