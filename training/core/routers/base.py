"""The router contract (RouteLLM's, in scikit-learn style, for any number of models).

A router scores queries against a list of models: `predict_ratings(query_embeddings, models)`
returns a Bradley-Terry rating per query and model, shape (n, len(models)), so that
P(a beats b | query) = σ(r_a − r_b) for any two of them. That is the only method a router kind
implements for serving; `predict_win_rate(query_embeddings, strong=, weak=)` (P(strong beats
weak) per row, RouteLLM's `calculate_strong_win_rate`) follows from it. The decision is the base
class's alone: `route(query_embedding, models, threshold)` scores one query and hands the ratings
to `training.core.policy` (RouteLLM's rule for two models: strong when P(strong wins) ≥ threshold).
A model the router has never seen raises `UnknownModel`.

`__init__` stores hyperparameters only; `fit(battles)` learns and returns self; learned attributes
end in `_`; randomness goes through `random_state`. `to_bytes()` / `Router.from_bytes()` give a
versioned artifact: hyperparameters + model list + learned arrays.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

ARTIFACT_FORMAT = 1


@dataclass
class Battles:
    """Training battles as arrays. Prompts are stored once; battles point at them.

    outcome: 1.0 = model_a won, 0.0 = model_b won, 0.5 = tie.
    """

    prompt_embeddings: np.ndarray  # (P, d) float32, unit rows
    prompt_index: np.ndarray  # (N,) int: battle -> prompt row
    model_a: np.ndarray  # (N,) int: index into `models`
    model_b: np.ndarray  # (N,) int
    outcome: np.ndarray  # (N,) float in {0, 0.5, 1}
    models: list[str]
    weight: np.ndarray | None = None  # (N,) float, default 1
    meta: dict = field(default_factory=dict)
    prompt_texts: list[str] | None = None  # (P,) the prompts themselves, for routers that train on text

    def __post_init__(self):
        self.prompt_embeddings = np.asarray(self.prompt_embeddings, dtype=np.float32)
        self.prompt_index = np.asarray(self.prompt_index, dtype=np.int64)
        self.model_a = np.asarray(self.model_a, dtype=np.int64)
        self.model_b = np.asarray(self.model_b, dtype=np.int64)
        self.outcome = np.asarray(self.outcome, dtype=np.float64)
        n = len(self.outcome)
        self.weight = np.ones(n) if self.weight is None else np.asarray(self.weight, dtype=np.float64)
        if not (len(self.prompt_index) == len(self.model_a) == len(self.model_b) == len(self.weight) == n):
            raise ValueError("battle arrays must have the same length")
        if n and (self.prompt_index.max() >= len(self.prompt_embeddings) or
                  max(self.model_a.max(), self.model_b.max()) >= len(self.models)):
            raise ValueError("battle indexes out of range")

    def __len__(self) -> int:
        return len(self.outcome)

    @classmethod
    def from_records(cls, prompt_embeddings, prompt_index, model_a: list[str], model_b: list[str], outcome,
                     weight=None, models: list[str] | None = None) -> "Battles":
        """Battles from model *names*; the model list is sorted unless given."""
        models = list(models) if models is not None else sorted(set(model_a) | set(model_b))
        index = {m: i for i, m in enumerate(models)}
        return cls(prompt_embeddings, prompt_index, [index[m] for m in model_a], [index[m] for m in model_b],
                   outcome, models, weight)


class UnknownModel(KeyError):
    """The router has not seen this model: it cannot score it."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown model"


class Router:
    """Base class: owns the decision and the artifact format; subclasses implement scoring."""

    kind: ClassVar[str] = ""
    _arrays: ClassVar[tuple[str, ...]] = ()  # learned numpy attributes saved in the artifact
    # False for routers that keep no learned arrays of their own (SW reads its battles from a
    # neighbour source; random learns nothing): their versions store no artifact.
    stores_artifact: ClassVar[bool] = True
    # True for routers that read the stored battles when they score (SW): restoring a version
    # needs them (in memory, or the serving index over the preference store).
    reads_battles: ClassVar[bool] = False
    # True for routers whose scores are random draws: evaluated as the mean over several seeds.
    stochastic: ClassVar[bool] = False
    # True for routers that read the query's text (a classifier over the prompt) rather than, or
    # besides, its embedding: `predict_ratings` takes `texts=` (one per query row).
    reads_text: ClassVar[bool] = False
    # False for routers that never look at the query's embedding (causal_llm): their versions do
    # not depend on the embedder (`RouterVersion.embedder` stays empty).
    reads_embeddings: ClassVar[bool] = True
    # True for the kinds a training run trains when it is not told which (`TRAINABLE_KINDS`);
    # False for one that needs a setting first (causal_llm: its classifier endpoint).
    trained_by_default: ClassVar[bool] = True
    # True for routers that ask a model endpoint when they score (causal_llm's classifier): they
    # have an `endpoint` (its name) and take the call with `attach(complete)`.
    calls_endpoint: ClassVar[bool] = False

    models_: list[str]

    def fit(self, battles: Battles, *, progress=None) -> "Router":
        """Learn from `battles`; `progress(fraction, message)` is called along the way when given."""
        raise NotImplementedError

    def predict_ratings(self, query_embeddings: np.ndarray, models: list[str]) -> np.ndarray:
        """Ratings (n_queries, len(models)): P(a beats b) = σ(r_a − r_b). Raises UnknownModel."""
        raise NotImplementedError

    def knows(self, name: str) -> bool:
        """Whether the router can score `name` (it saw the model in training)."""
        return name in self.models_

    def ratings_for(self, query_embeddings, models: list[str], texts=None) -> np.ndarray:
        """`predict_ratings` with the query texts for a router that reads them."""
        if self.reads_text:
            return self.predict_ratings(query_embeddings, models, texts=texts)
        return self.predict_ratings(query_embeddings, models)

    def predict_win_rate(self, query_embeddings: np.ndarray, *, strong: str, weak: str, texts=None) -> np.ndarray:
        """P(strong beats weak) for each query row, shape (n,)."""
        ratings = self.ratings_for(query_embeddings, [strong, weak], texts)
        return 1.0 / (1.0 + np.exp(-(ratings[:, 0] - ratings[:, 1]).astype(np.float64)))

    def route(self, query_embedding: np.ndarray, models: list[str], threshold: float, *, text: str | None = None):
        """The decision for one query among `models`, ordered from the strongest (most expensive) to
        the cheapest: a `training.core.policy.Choice`. `text`: the query, for a router that reads it."""
        from training.core.policy import choose

        queries = None if query_embedding is None else np.asarray(query_embedding)[None, :]
        ratings = self.ratings_for(queries, list(models), None if text is None else [text])[0]
        return choose(ratings, threshold)

    def scoped(self, **scope) -> "Router":
        """The router as it serves one scope (e.g. `tenant_id=`); routers that read shared state
        per scope (SW's neighbour source) narrow it, the others are the same router."""
        return self

    # --- hyperparameters and artifacts
    def get_params(self) -> dict:
        import inspect

        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def _model_index(self, name: str) -> int:
        return model_index(self.models_, name)

    def to_bytes(self) -> bytes:
        meta = {"format": ARTIFACT_FORMAT, "kind": self.kind, "params": self.get_params(),
                "models": list(self.models_), "extra": self._extra_state()}
        buffer = io.BytesIO()
        np.savez_compressed(buffer, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                            **{name: getattr(self, name) for name in self._arrays})
        return buffer.getvalue()

    def _extra_state(self) -> dict:
        return {}

    def _load_extra_state(self, extra: dict) -> None:
        pass

    @classmethod
    def restore(cls, params: dict, artifact: bytes | None, *, neighbors=None) -> "Router":
        """The router a stored version stands for: its artifact, or for routers that store none,
        their hyperparameters (and the neighbour source they read, for SW)."""
        if not artifact:
            raise ValueError(f"a {cls.kind} version needs its artifact")
        return Router.from_bytes(artifact)

    @staticmethod
    def from_bytes(data: bytes) -> "Router":
        from training.core.routers import ROUTERS

        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = json.loads(archive["__meta__"].tobytes().decode())
            if meta.get("format") != ARTIFACT_FORMAT:
                raise ValueError(f"unsupported artifact format {meta.get('format')}")
            router = ROUTERS[meta["kind"]](**meta["params"])
            router.models_ = meta["models"]
            for name in router._arrays:
                setattr(router, name, archive[name])
        router._load_extra_state(meta.get("extra", {}))
        return router


def model_index(models: list[str], name: str) -> int:
    try:
        return models.index(name)
    except ValueError:
        raise UnknownModel(f"model {name!r} was not seen in training; known: {', '.join(models)}") from None
