"""Routers: plain Python + numpy + torch, no Django import (see ../shared/STYLE.md)."""

# Names of the router kinds a tenant may select; the registry of classes comes with the router core.
ROUTER_KINDS = ("sw", "mf", "random")
