"""The causal-LLM classifier router (RouteLLM's `causal_llm`), served over an OpenAI-compatible API.

RouteLLM fine-tunes Llama-3-8B to read a question and answer with a rating token, "[[1]]" to
"[[5]]": how well the *weak* model will answer it. P(strong wins) is then the probability mass of
the low ratings: 1 − (p([[4]]) + p([[5]])) with the default score threshold 4, p being the softmax
over the five rating tokens at the position where the rating is generated. Here the classifier is
any OpenAI-compatible chat endpoint that returns log-probabilities (in production, for example,
RouteLLM's fine-tuned checkpoint served by vLLM): the router sends RouteLLM's system and
classifier prompts (`system_ft_v5.txt`, `classifier_ft_v5.txt`, below) with `logprobs` and
`top_logprobs`, and reads the five ratings' log-probabilities from the answer.

It learns nothing here, stores no artifact, and scores any pair or pool (the rating is about the
question, not about model names). The call itself is injected (`attach(complete)`, like SW's neighbour source), so
this module stays free of HTTP and Django: `complete(messages)` returns the answer's `logprobs`
content (a list of {"token", "logprob", "top_logprobs": [{"token", "logprob"}]}) or raises. An
answer with no rating anywhere raises `NoRating`; the gateway then falls back as for any router
failure (strong model, reason logged).
"""
from __future__ import annotations

import math
import re
from typing import Callable, ClassVar, Sequence

import numpy as np

from training.core.routers.base import Battles, Router

# RouteLLM's prompts (routellm/routers/causal_llm/system_ft_v5.txt and classifier_ft_v5.txt)
SYSTEM_PROMPT = (
    "[Instruction]\n"
    "Based on the question provided below, predict the score an expert evaluator would give to an AI assistant's "
    "response, considering its helpfulness, relevance, adherence to facts, depth, creativity, and detail. Your "
    "prediction should infer the level of proficiency needed to address the question effectively. Use a scale from "
    "1 to 5, where a higher score indicates a higher anticipated quality of response. Provide your prediction as: "
    "\"[[predicted rating]]\".\n\n"
    "Score criteria:\n"
    "- **4-5**: The AI assistant can produce a very strong answer, showing deep understanding, creativity, detailed "
    "insight, and high relevance.\n"
    "- **3**: The AI assistant can provide an adequate answer with moderate detail, relevance, and factual "
    "accuracy.\n"
    "- **1-2**: The AI assistant will struggle to produce a strong answer due to the question's difficulty, "
    "vagueness, or the assistant's limitations.\n"
)
CLASSIFIER_PROMPT = "[Question]\n{question}\n\nPrediction:\n"
RATINGS = (1, 2, 3, 4, 5)
_RATING_TOKEN = re.compile(r"^\s*(?:\[\[)?\s*([1-5])\s*(?:\]\])?\s*$")

Complete = Callable[[list[dict]], list[dict]]


class NoRating(ValueError):
    """The classifier's answer holds no rating token: the router cannot score the query."""


def classifier_messages(question: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": CLASSIFIER_PROMPT.format(question=question)}]


def rating_logprobs(content: Sequence[dict]) -> np.ndarray:
    """Log-probabilities of the ratings 1-5 at the first answer position that generated one
    (a "[[k]]" token, as RouteLLM's checkpoint emits, or a bare digit after "[["): each from that
    position's `top_logprobs` (or the generated token itself); a rating not among them is -inf."""
    for position in content:
        if _RATING_TOKEN.match(position.get("token", "")) is None:
            continue
        found = np.full(len(RATINGS), -np.inf)
        for candidate in [position, *(position.get("top_logprobs") or [])]:
            match = _RATING_TOKEN.match(candidate.get("token", ""))
            logprob = candidate.get("logprob")
            if match and logprob is not None and math.isfinite(logprob):
                index = int(match.group(1)) - 1
                found[index] = max(found[index], float(logprob))
        return found
    raise NoRating("the classifier's answer holds no rating [[1]]-[[5]]")


def strong_win_rate(logprobs: np.ndarray, score_threshold: int = 4) -> float:
    """RouteLLM's P(strong wins): 1 − the softmax mass of the ratings ≥ `score_threshold` (those
    say the weak model will answer well)."""
    shifted = np.exp(logprobs - np.max(logprobs))
    probabilities = shifted / shifted.sum()
    return float(1.0 - probabilities[score_threshold - 1:].sum())


class CausalLLMRouter(Router):
    """Scores a query with a classifier LLM's rating log-probabilities. The rating says how well a
    weak model will answer, whatever the models are named, so it scores any list of models: the
    first (the strongest, as the gateway and the evaluation order them) gets logit(P(strong
    wins)), every other one 0."""

    kind: ClassVar[str] = "causal_llm"
    stores_artifact: ClassVar[bool] = False
    reads_text: ClassVar[bool] = True
    reads_embeddings: ClassVar[bool] = False
    trained_by_default: ClassVar[bool] = False
    calls_endpoint: ClassVar[bool] = True

    def __init__(self, endpoint: str = "", score_threshold: int = 4, clip: float = 1e-4):
        if score_threshold not in RATINGS:
            raise ValueError("score_threshold is a rating, 1 to 5")
        self.endpoint, self.score_threshold, self.clip = endpoint, score_threshold, clip
        self.models_: list[str] = []
        self._complete: Complete | None = None

    def fit(self, battles: Battles, *, progress=None) -> "CausalLLMRouter":
        """Nothing to learn here: the classifier is the endpoint's model (fine-tuned elsewhere)."""
        self.models_ = list(battles.models)
        if progress:
            progress(1.0, f"classifier endpoint {self.endpoint or '(not set)'}: nothing to fit")
        return self

    @classmethod
    def restore(cls, params: dict, artifact: bytes | None, *, neighbors=None) -> "CausalLLMRouter":
        return cls(**params)

    def knows(self, name: str) -> bool:
        return True

    def attach(self, complete: Complete) -> "CausalLLMRouter":
        """Where the classifier is called: `complete(messages)` -> the answer's logprobs content."""
        self._complete = complete
        return self

    def win_rate_for(self, text: str) -> float:
        """P(strong wins) for one query: one classifier call."""
        if self._complete is None:
            raise RuntimeError("no classifier attached: call attach(complete) first")
        return strong_win_rate(rating_logprobs(self._complete(classifier_messages(text))), self.score_threshold)

    def predict_ratings(self, query_embeddings, models: list[str], *, texts: Sequence[str] | None = None) -> np.ndarray:
        if texts is None:
            raise ValueError("the causal_llm router scores texts: pass texts=")
        ratings = np.zeros((len(texts), len(models)))
        for row, text in enumerate(texts):
            p = min(max(self.win_rate_for(text), self.clip), 1 - self.clip)
            ratings[row, 0] = math.log(p / (1 - p))
        return ratings
