"""all-MiniLM-L6-v2's forward pass as an ONNX graph run by onnxruntime: the fast path of faq/embedding.py.

The graph is built here, node by node with `onnx.helper`, from the same safetensors weights the numpy pass reads,
and computes the same thing: token + position + segment embeddings and a layer norm; six layers of 12-head
self-attention (padding masked out) and an erf-GELU feed-forward, each with a residual and a layer norm; the mean
of the last layer's token vectors over the mask, L2-normalised. No exporter and no torch are involved.

Between layers the token vectors are kept flat, (batch x tokens, hidden), as in the numpy pass, so every linear
layer is one Gemm with its bias, multiplying by the weights as stored (out, in).

The model proto carries no weights: each weight is an initializer marked as external data (name, type and shape,
no bytes), and onnxruntime is handed the numpy arrays read from safetensors instead
(`SessionOptions.add_external_initializers`), before it optimises the graph. So nothing is serialised but a few
kilobytes of nodes, and nothing is written to disk: building the graph takes ~15 ms and the session ~0.15 s
(optimising included), where saving the whole model to the cache would write 90 MB per model version to every
user's cache directory to save about a second.

Importing this module raises ImportError when onnx or onnxruntime is missing; faq/embedding.py then uses numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

# LayerNormalization needs opset 17. IR version 8 is the one opset 17 came with: onnx writes its newest IR version
# by default, which an older onnxruntime (the `embeddings` extra allows 1.20) refuses to load.
OPSET = 17
IR_VERSION = 8
_NEGATIVE = -1e9  # attention logit for padding, as in the numpy pass: softmax gives it zero weight
# Where a weight's bytes would be, were they saved: a name only, never opened, since onnxruntime is given the data.
_IN_MEMORY = "weights handed to onnxruntime in memory"


@dataclass(frozen=True)
class EncoderGraph:
    """The encoder as an ONNX model whose weights are external-data initializers without data, and those weights,
    by initializer name: the arrays onnxruntime is to use in their place."""

    model: onnx.ModelProto
    weights: Mapping[str, np.ndarray]


class OnnxForwardPass:
    """A built model in an onnxruntime session: `forward(ids, mask)` gives one unit vector per row of token ids
    (int64; mask float32, 1 for a token, 0 for padding).

    One thread inside an operator and none between them: the products are small (a question is ~10 rows), and on
    the 2-core machine a second thread mostly waits, as with numpy's BLAS (faq/embedding.py).
    """

    runtime = "onnxruntime"

    def __init__(self, graph: EncoderGraph) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        # onnxruntime copies these into the graph while loading it, before optimising (so weights are prepacked and
        # constants folded as if they had been in the model), and documents that the arrays may be freed once the
        # session exists: the caller's weights are not kept alive here. tests/test_faq_onnx.py checks the copy.
        names = list(graph.weights)
        values = [onnxruntime.OrtValue.ortvalue_from_numpy(graph.weights[name]) for name in names]
        options.add_external_initializers(names, values)
        model = graph.model.SerializeToString()
        self.session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        (vectors,) = self.session.run(["sentence_vectors"], {"input_ids": ids, "attention_mask": mask})
        return vectors


def forward_pass(weights: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> OnnxForwardPass:
    """The model read from safetensors (`weights`, numpy arrays), in an onnxruntime session."""
    return OnnxForwardPass(build_model(weights, config))


def build_model(weights: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> EncoderGraph:
    """The sentence encoder as an ONNX model: inputs `input_ids` (int64) and `attention_mask` (float32), both
    (batch, tokens); output `sentence_vectors`, (batch, hidden) unit vectors. Its weights are left out of the model
    and returned beside it (`EncoderGraph`); small constants (shapes, axes, scalars) are kept in it."""
    graph = _Graph(weights, config)
    states = graph.embeddings()
    # (1 - mask) * -1e9, shaped (batch, 1, 1, tokens), to add to every head's and every query's logits.
    padding = graph.op("Mul", graph.op("Sub", graph.real(1.0), "attention_mask"), graph.real(_NEGATIVE))
    padding = graph.op("Unsqueeze", padding, graph.ints(1, 2))
    flat = graph.op("Reshape", states, graph.ints(-1, graph.hidden))
    for index in range(int(config["num_hidden_layers"])):
        flat = graph.encoder_layer(f"encoder.layer.{index}.", flat, padding)
    graph.mean_pooled_unit_vectors(graph.op("Reshape", flat, graph.batch_tokens_hidden))

    batch_by_tokens = ["batch", "tokens"]
    model = helper.make_model(
        helper.make_graph(
            graph.nodes,
            "all-MiniLM-L6-v2 sentence encoder",
            [
                helper.make_tensor_value_info("input_ids", TensorProto.INT64, batch_by_tokens),
                helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, batch_by_tokens),
            ],
            [helper.make_tensor_value_info("sentence_vectors", TensorProto.FLOAT, ["batch", graph.hidden])],
            graph.initializers,
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="creditbot faq/onnx_encoder.py",
    )
    model.ir_version = IR_VERSION
    return EncoderGraph(model, graph.external)


class _Graph:
    """Collects nodes and initializers as the encoder is described. Every node gets a fresh output name, and a
    constant is stored once however often it is used, so each step reads as the arithmetic it is. Weights are
    initializers without data, their arrays collected in `external`."""

    def __init__(self, weights: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> None:
        self.weights = weights
        self.hidden, self.heads = int(config["hidden_size"]), int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.external: dict[str, np.ndarray] = {}
        self._constants: dict[tuple[str, tuple[float, ...]], str] = {}
        batch_tokens = self.op("Shape", "input_ids")
        self.tokens = self.op("Slice", batch_tokens, self.ints(1), self.ints(2))  # [tokens]
        self.batch_tokens_hidden = self.op("Concat", batch_tokens, self.ints(self.hidden), axis=0)
        head_size = self.hidden // self.heads
        self.batch_tokens_qkv_heads = self.op("Concat", batch_tokens, self.ints(3, self.heads, head_size), axis=0)

    def op(self, op_type: str, *inputs: str, output: str | None = None, **attributes: Any) -> str:
        output = output or f"{op_type.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attributes))
        return output

    def weight(self, name: str, value: np.ndarray) -> str:
        """A weight of the model: declared in the graph (type and shape) as external data, its array kept aside."""
        value = np.ascontiguousarray(value)  # as onnxruntime reads it; the arrays from safetensors already are
        declared = TensorProto(
            name=name,
            data_type=helper.np_dtype_to_tensor_dtype(value.dtype),
            dims=value.shape,
            data_location=TensorProto.EXTERNAL,
        )
        declared.external_data.add(key="location", value=_IN_MEMORY)
        self.initializers.append(declared)
        self.external[name] = value
        return name

    def ints(self, *values: int) -> str:
        """A 1-D int64 constant (axes, shapes)."""
        return self._constant("int", np.array(values, dtype=np.int64))

    def real(self, value: float) -> str:
        """A float32 scalar."""
        return self._constant("real", np.array(value, dtype=np.float32))

    def scalar_index(self, value: int) -> str:
        """An int64 scalar: Gather with it drops the axis it picks from."""
        return self._constant("index", np.array(value, dtype=np.int64))

    def _constant(self, kind: str, value: np.ndarray) -> str:
        key = (kind, tuple(value.reshape(-1).tolist()))
        if key not in self._constants:
            name = f"{kind}_{len(self._constants)}"
            self.initializers.append(numpy_helper.from_array(value, name))
            self._constants[key] = name
        return self._constants[key]

    def embeddings(self) -> str:
        word = self.weight("word_embeddings", self.weights["embeddings.word_embeddings.weight"])
        position = self.weight("position_embeddings", self.weights["embeddings.position_embeddings.weight"])
        # Single sentences: every token is segment 0, so its embedding is one constant row.
        segment = self.weight("segment_embedding", self.weights["embeddings.token_type_embeddings.weight"][0])
        positions = self.op("Slice", position, self.ints(0), self.tokens, self.ints(0))  # rows 0 .. tokens - 1
        states = self.op("Add", self.op("Add", self.op("Gather", word, "input_ids"), positions), segment)
        return self.layer_norm("embeddings.LayerNorm", states)

    def layer_norm(self, prefix: str, states: str) -> str:
        scale = self.weight(f"{prefix}.weight", self.weights[f"{prefix}.weight"])
        bias = self.weight(f"{prefix}.bias", self.weights[f"{prefix}.bias"])
        return self.op("LayerNormalization", states, scale, bias, axis=-1, epsilon=self.eps)

    def linear(self, prefix: str, flat: str) -> str:
        return self.gemm(prefix, flat, self.weights[f"{prefix}.weight"], self.weights[f"{prefix}.bias"])

    def gemm(self, name: str, flat: str, matrix: np.ndarray, bias: np.ndarray) -> str:
        # `matrix` is (out, in), as torch's Linear stores it: transB multiplies by its transpose.
        weight, offset = self.weight(f"{name}.weight", matrix), self.weight(f"{name}.bias", bias)
        return self.op("Gemm", flat, weight, offset, transB=1)

    def encoder_layer(self, prefix: str, flat: str, padding: str) -> str:
        attended = self.op("Add", self.self_attention(prefix, flat, padding), flat)
        flat = self.layer_norm(f"{prefix}attention.output.LayerNorm", attended)
        inner = self.linear(f"{prefix}intermediate.dense", flat)
        feed_forward = self.op("Add", self.linear(f"{prefix}output.dense", self.gelu(inner)), flat)
        return self.layer_norm(f"{prefix}output.LayerNorm", feed_forward)

    def self_attention(self, prefix: str, flat: str, padding: str) -> str:
        # Query, key and value in one product, then split: (batch, tokens, 3, heads, head_size) transposed to
        # (3, batch, heads, tokens, head_size).
        parts = [f"{prefix}attention.self.{part}" for part in ("query", "key", "value")]
        matrix = np.concatenate([self.weights[f"{part}.weight"] for part in parts])
        bias = np.concatenate([self.weights[f"{part}.bias"] for part in parts])
        qkv = self.op(
            "Reshape", self.gemm(f"{prefix}attention.self.qkv", flat, matrix, bias), self.batch_tokens_qkv_heads
        )
        qkv = self.op("Transpose", qkv, perm=[2, 0, 3, 1, 4])
        query, key, value = (self.op("Gather", qkv, self.scalar_index(i)) for i in range(3))
        head_scale = self.real(np.sqrt(self.hidden // self.heads))
        logits = self.op("Div", self.op("MatMul", query, self.op("Transpose", key, perm=[0, 1, 3, 2])), head_scale)
        weights = self.op("Softmax", self.op("Add", logits, padding), axis=-1)
        context = self.op("Transpose", self.op("MatMul", weights, value), perm=[0, 2, 1, 3])
        return self.linear(f"{prefix}attention.output.dense", self.op("Reshape", context, self.ints(-1, self.hidden)))

    def gelu(self, x: str) -> str:
        # BERT's GELU is the exact one, x * 0.5 * (1 + erf(x / sqrt 2)), not the tanh approximation.
        erf = self.op("Erf", self.op("Div", x, self.real(np.sqrt(2.0))))
        return self.op("Mul", self.op("Mul", x, self.op("Add", erf, self.real(1.0))), self.real(0.5))

    def mean_pooled_unit_vectors(self, states: str) -> None:
        mask = "attention_mask"
        masked = self.op("Mul", states, self.op("Unsqueeze", mask, self.ints(2)))
        summed = self.op("ReduceSum", masked, self.ints(1), keepdims=0)  # (batch, hidden)
        count = self.op("ReduceSum", mask, self.ints(1))  # (batch, 1)
        pooled = self.op("Div", summed, self.op("Max", count, self.real(1e-9)))
        norm = self.op("ReduceL2", pooled, axes=[1], keepdims=1)  # opset 17: axes is still an attribute here
        self.op("Div", pooled, self.op("Max", norm, self.real(1e-12)), output="sentence_vectors")
