"""Synthetic battles whose answer is known: model A wins on one cluster of prompts, B on another."""
import numpy as np

from training.core.routers import Battles


def unit(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def two_cluster_battles(n_per_cluster=60, dim=16, seed=0, noise=0.15):
    rng = np.random.default_rng(seed)
    centers = unit(rng.normal(size=(2, dim)))
    prompts = unit(np.repeat(centers, n_per_cluster, axis=0) + noise * rng.normal(size=(2 * n_per_cluster, dim)))
    cluster = np.repeat([0, 1], n_per_cluster)
    # cluster 0: "strong" beats "weak"; cluster 1: "weak" beats "strong"; plus a third model for context
    model_a = ["strong"] * len(prompts) + ["other"] * len(prompts)
    model_b = ["weak"] * len(prompts) + ["weak"] * len(prompts)
    outcome = np.concatenate([np.where(cluster == 0, 1.0, 0.0), np.full(len(prompts), 0.5)])
    index = np.concatenate([np.arange(len(prompts)), np.arange(len(prompts))])
    battles = Battles.from_records(prompts, index, model_a, model_b, outcome)
    return battles, centers, rng
