"""Matrix-factorization (MF) router, as in RouteLLM.

s(m, q) = wᵀ(v̂_m ⊙ W e_q) with v̂_m the L2-normalized learned embedding of model m (128-d),
W a linear projection of the query embedding and w a linear head; P(a beats b | q) =
σ(s(a, q) − s(b, q)). Trained in torch with BCE on battles, ties kept as target 0.5, Gaussian
noise on the query embedding, seeded. Scoring needs no torch: s(m, q) = q · u_m with
u_m = Wᵀ(w ⊙ v̂_m), precomputed at fit/load time, so a decision is one dot product.
"""
from __future__ import annotations

import time

import numpy as np

from training.core.routers.base import Battles, Router


class MFRouter(Router):
    kind = "mf"
    _arrays = ("model_embeddings_", "projection_", "head_")

    def __init__(self, dim: int = 128, epochs: int = 20, batch_size: int = 2048, lr: float = 3e-3,
                 weight_decay: float = 1e-5, noise: float = 0.05, tie_target: float = 0.5,
                 cosine_lr: bool = False, average_last: float = 0.0, random_state: int = 0,
                 threads: int | None = None):
        self.dim = dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.noise = noise
        self.tie_target = tie_target
        self.cosine_lr = cosine_lr  # decay the learning rate to 0 along a cosine
        self.average_last = average_last  # average the weights of this last share of epochs (SWA)
        self.random_state = random_state
        self.threads = threads

    def fit(self, battles: Battles, *, progress=None) -> "MFRouter":
        """`progress(fraction, message)` is called after each epoch when given."""
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        torch.manual_seed(self.random_state)
        rng = np.random.default_rng(self.random_state)
        keep = battles.model_a != battles.model_b
        prompts = torch.from_numpy(battles.prompt_embeddings)
        idx = torch.from_numpy(battles.prompt_index[keep])
        a = torch.from_numpy(battles.model_a[keep])
        b = torch.from_numpy(battles.model_b[keep])
        target = np.where(battles.outcome[keep] == 0.5, self.tie_target, battles.outcome[keep])
        target = torch.from_numpy(target.astype(np.float32))
        weight = battles.weight[keep]
        weight = torch.from_numpy((weight / weight.mean()).astype(np.float32))
        n_models, text_dim = len(battles.models), prompts.shape[1]

        model_embeddings = torch.nn.Embedding(n_models, self.dim)
        projection = torch.nn.Linear(text_dim, self.dim, bias=False)
        head = torch.nn.Linear(self.dim, 1, bias=False)
        params = [*model_embeddings.parameters(), *projection.parameters(), *head.parameters()]
        optimizer = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
        n = len(target)
        steps = self.epochs * ((n + self.batch_size - 1) // self.batch_size)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps) if self.cosine_lr else None
        average_from = self.epochs - int(round(self.average_last * self.epochs))
        averaged, n_averaged = None, 0
        self.training_log_ = []
        started = time.monotonic()
        for epoch in range(self.epochs):
            order = torch.from_numpy(rng.permutation(n))
            total = 0.0
            for start in range(0, n, self.batch_size):
                batch = order[start:start + self.batch_size]
                q = prompts[idx[batch]]
                if self.noise:
                    q = q + torch.randn_like(q) * self.noise
                projected = projection(q)
                v = torch.nn.functional.normalize(model_embeddings.weight, dim=1)
                logits = head(v[a[batch]] * projected).squeeze(-1) - head(v[b[batch]] * projected).squeeze(-1)
                loss = (loss_fn(logits, target[batch]) * weight[batch]).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                total += float(loss.detach()) * len(batch)
            if self.average_last and epoch >= average_from:
                snapshot = [p.detach().clone() for p in params]
                averaged = snapshot if averaged is None else [a + (s - a) / (n_averaged + 1)
                                                              for a, s in zip(averaged, snapshot)]
                n_averaged += 1
            self.training_log_.append({"epoch": epoch + 1, "loss": total / n,
                                       "seconds": round(time.monotonic() - started, 2)})
            if progress is not None:
                progress((epoch + 1) / self.epochs, f"epoch {epoch + 1}/{self.epochs} loss {total / n:.4f}")
        if averaged is not None:
            with torch.no_grad():
                for param, value in zip(params, averaged):
                    param.copy_(value)
        self.models_ = list(battles.models)
        self.model_embeddings_ = model_embeddings.weight.detach().numpy().copy()
        self.projection_ = projection.weight.detach().numpy().copy()  # (dim, text_dim)
        self.head_ = head.weight.detach().numpy()[0].copy()  # (dim,)
        self._prepare()
        return self

    def _load_extra_state(self, extra: dict) -> None:
        self._prepare()

    def _prepare(self) -> None:
        v = self.model_embeddings_ / np.linalg.norm(self.model_embeddings_, axis=1, keepdims=True).clip(1e-12)
        self.scoring_vectors_ = ((v * self.head_) @ self.projection_).astype(np.float32)  # (models, text_dim)

    def score_models(self, query_embeddings) -> np.ndarray:
        """s(m, q) for every model: (n_queries, n_models)."""
        return np.atleast_2d(np.asarray(query_embeddings, dtype=np.float32)) @ self.scoring_vectors_.T

    def predict_ratings(self, query_embeddings, models: list[str]) -> np.ndarray:
        columns = [self._model_index(name) for name in models]
        return self.score_models(query_embeddings)[:, columns].astype(np.float64)
