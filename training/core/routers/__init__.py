"""Routers: plain Python + numpy + torch, no Django import (see ../shared/STYLE.md).

The registry: `ROUTERS` maps a kind to its class, and is the only place that knows the kinds.
Everything else asks a class what it needs (`stores_artifact`, `reads_battles`, `stochastic`)
and calls the contract (`fit`, `predict_ratings`, `route`, `restore`).
"""
from training.core.routers.base import Battles, Router, UnknownModel
from training.core.routers.bert import BertRouter
from training.core.routers.causal_llm import CausalLLMRouter
from training.core.routers.mf import MFRouter
from training.core.routers.random import RandomRouter
from training.core.routers.sw import SWRankingRouter, sw_win_rate_from_neighbors

ROUTERS: dict[str, type[Router]] = {
    "sw": SWRankingRouter,
    "mf": MFRouter,
    "random": RandomRouter,
    "bert": BertRouter,
    "causal_llm": CausalLLMRouter,
}
ROUTER_KINDS = tuple(ROUTERS)
# the kinds that have versions (a stochastic router learns nothing and serves without one)
TRAINABLE_KINDS = tuple(kind for kind, cls in ROUTERS.items() if not cls.stochastic)
# the kinds a training run fits when not told which (causal_llm needs its classifier endpoint set
# first: `training.runs.training_kinds_default` adds it then)
DEFAULT_TRAINING_KINDS = tuple(kind for kind in TRAINABLE_KINDS if ROUTERS[kind].trained_by_default)

__all__ = ["ROUTERS", "ROUTER_KINDS", "TRAINABLE_KINDS", "DEFAULT_TRAINING_KINDS", "Battles", "Router", "UnknownModel",
           "BertRouter", "CausalLLMRouter", "MFRouter",
           "RandomRouter", "SWRankingRouter", "sw_win_rate_from_neighbors"]
