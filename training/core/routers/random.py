import numpy as np

from training.core.routers.base import Battles, Router


class RandomRouter(Router):
    """The baseline: P(first model beats each other) uniform at random per query (RouteLLM's
    `random` router): the first model's rating is logit(u), the others' 0. It scores any model."""

    kind = "random"
    stores_artifact = False
    stochastic = True

    def __init__(self, random_state: int | None = None):
        self.random_state = random_state

    def fit(self, battles: Battles, *, progress=None) -> "RandomRouter":
        self.models_ = list(battles.models)
        return self

    def knows(self, name: str) -> bool:
        return True

    @classmethod
    def restore(cls, params: dict, artifact: bytes | None, *, neighbors=None) -> "RandomRouter":
        return cls(**params)

    def predict_ratings(self, query_embeddings, models: list[str]) -> np.ndarray:
        rng = np.random.default_rng(self.random_state)
        u = np.clip(rng.uniform(size=len(np.atleast_2d(query_embeddings))), 1e-12, 1 - 1e-12)  # finite logits
        ratings = np.zeros((len(u), len(models)))
        ratings[:, 0] = np.log(u) - np.log1p(-u)
        return ratings
