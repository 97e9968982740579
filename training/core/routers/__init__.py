"""Routers: plain Python + numpy + torch, no Django import (see ../shared/STYLE.md).

The registry: `ROUTERS` maps a kind to its class, and is the only place that knows the kinds.
Everything else asks a class what it needs (`stores_artifact`, `reads_battles`, `stochastic`)
and calls the contract (`fit`, `predict_ratings`, `route`, `restore`).
"""
from training.core.routers.base import Battles, Router, UnknownModel
from training.core.routers.mf import MFRouter
from training.core.routers.random import RandomRouter
from training.core.routers.sw import SWRankingRouter, sw_win_rate_from_neighbors

ROUTERS: dict[str, type[Router]] = {
    "sw": SWRankingRouter,
    "mf": MFRouter,
    "random": RandomRouter,
}
ROUTER_KINDS = tuple(ROUTERS)
# the kinds a training run fits (a stochastic router learns nothing)
TRAINABLE_KINDS = tuple(kind for kind, cls in ROUTERS.items() if not cls.stochastic)

__all__ = ["ROUTERS", "ROUTER_KINDS", "TRAINABLE_KINDS", "Battles", "Router", "UnknownModel", "MFRouter",
           "RandomRouter", "SWRankingRouter", "sw_win_rate_from_neighbors"]
