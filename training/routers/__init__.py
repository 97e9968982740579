"""Routers: plain Python + numpy + torch, no Django import (see ../shared/STYLE.md).

`ROUTERS` maps a kind to its class; the gateway and training look kinds up here.
"""
from training.routers.base import Battles, Router
from training.routers.mf import MFRouter
from training.routers.random import RandomRouter
from training.routers.sw import SWRankingRouter, sw_win_rate_from_neighbors

ROUTERS: dict[str, type[Router]] = {
    "sw": SWRankingRouter,
    "mf": MFRouter,
    "random": RandomRouter,
}
ROUTER_KINDS = tuple(ROUTERS)

__all__ = ["ROUTERS", "ROUTER_KINDS", "Battles", "Router", "MFRouter", "RandomRouter", "SWRankingRouter",
           "sw_win_rate_from_neighbors"]
