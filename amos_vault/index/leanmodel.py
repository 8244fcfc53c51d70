"""A leaner copy of the default model's graph: the weights stay int8 in memory.

The default model stores its weights as int8 with a float scale, dequantised in the graph
(``Mul(Cast(int8 weights), scale)``). onnxruntime folds those constants into float32 tensors
when it loads the model: the word-embedding table alone (30,522 x 384) becomes 47 MB of
float32, the 36 weight matrices another 42 MB, and loading briefly holds both copies. Yet a
query reads a few dozen rows of the table, and the matrices are 10.6 MB as int8.

`lean_graph` rewrites the graph so the weights stay int8:

* each ``Gather(Mul(Cast(q), scale), ids)`` becomes ``Mul(Cast(Gather(q, ids)), Gather(scale,
  ids))`` (or the column scale itself): the int8 rows are gathered first and only those
  scaled, the same float operations on the same values;
* each ``MatMul(x, Mul(Cast(q), column scale))`` is computed from ``q`` itself
  (`_int8_product`): each token's activations are scaled to 8 bits on their own (its largest
  value to 127), multiplied with ``MatMulInteger``, and the product scaled back. This is the
  one step that changes the numbers: a vector moves by a cosine of 2e-3 on average (5e-3 at
  most over 861 real messages and queries, 1.7e-2 for an empty text; a test holds them within
  2e-2), far less than what separates a relevant passage from an irrelevant one.

Measured against the original graph (the same queries, one process each, quiet machine): the
model takes about 31 MB once loaded instead of 60 (the whole query process about 30 MB less),
and a query runs in about 0.6 of the time. Kept as int8 but converted to float32 for each use
(the same numbers to 1e-6), the matrices cost a query 8 ms more, which the 25 ms target for a
query at 120k chunks does not allow; onnxruntime's 8-bit MatMulNBits took a query from 3 ms to
21 ms; one 8-bit scale for all tokens at once moved vectors by a cosine of 6e-3.

The file is derived: `amosvault model install` writes it next to ``model.onnx`` (the
verified original stays), recording the original's sha256 and this rewrite's version in the
graph's metadata; the loader uses it only when both match (`lean_graph_matches`), and the
original otherwise (a stale one is written again when the model loads: `embeddings`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from amos_vault.files.vault import atomic_file

LEAN_MODEL_FILE = "model-lean.onnx"
LEAN_VERSION = "3"  # raise it when `lean_graph` changes: older lean files are then not used
LEAN_COST = "about 70 MB more memory"  # what running without the lean graph costs
_SOURCE_KEY, _VERSION_KEY = "amos_lean_source_sha256", "amos_lean_version"
# The constants of `_int8_product`: a token's 8-bit steps, the shift to unsigned, the axes.
_STEPS, _MIDDLE, _TINY, _ZERO, _AXES = "amos/127", "amos/128", "amos/tiny", "amos/zero", "amos/axes"
_CONSTANTS: dict[str, np.ndarray] = {
    _STEPS: np.array(127.0, np.float32),
    _MIDDLE: np.array(128.0, np.float32),
    _TINY: np.array(1e-12, np.float32),
    _ZERO: np.array(128, np.uint8),
    _AXES: np.array([-1], np.int64),
}


def _int8_table(graph: Any, name: str) -> tuple[str, str, bool] | None:
    """``(int8 initializer, scale initializer, scale is per row)`` when ``name`` is the output
    of ``Mul(Cast(int8 initializer), scale initializer)`` with a row or a column scale."""
    from onnx import TensorProto

    producers = {out: node for node in graph.node for out in node.output}
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    scale_node = producers.get(name)
    if scale_node is None or scale_node.op_type != "Mul":
        return None
    cast_node = producers.get(scale_node.input[0])
    scale = initializers.get(scale_node.input[1])
    if cast_node is None or cast_node.op_type != "Cast" or scale is None:
        return None
    table = initializers.get(cast_node.input[0])
    if table is None or table.data_type != TensorProto.INT8 or len(table.dims) != 2:
        return None
    rows, columns = table.dims
    if list(scale.dims) == [rows, 1]:
        return table.name, scale.name, True
    if list(scale.dims) == [1, columns]:
        return table.name, scale.name, False
    return None


def _drop_unused(graph: Any) -> None:
    """Remove nodes whose outputs nothing reads, then initializers no node reads."""
    while True:
        read = {out.name for out in graph.output}
        for node in graph.node:
            read.update(node.input)
        dead = [node for node in graph.node if not any(out in read for out in node.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    read = {name for node in graph.node for name in node.input}
    kept = [tensor for tensor in graph.initializer if tensor.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def lean_graph(model: Any) -> int:
    """Rewrite ``model`` (an ``onnx.ModelProto``) in place; the number of int8 weights that
    now stay int8 (embedding tables and matrices)."""
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    rewritten = 0
    for node in list(graph.node):
        if node.op_type == "Gather":
            replacement = _gathered_rows(graph, node)
        elif node.op_type == "MatMul":
            replacement = _int8_product(graph, node, opset)
        else:
            continue
        if replacement is None:
            continue
        at = list(graph.node).index(node)
        graph.node.remove(node)
        for offset, new in enumerate(replacement):
            graph.node.insert(at + offset, new)
        rewritten += 1
    _drop_unused(graph)
    return rewritten


def _gathered_rows(graph: Any, node: Any) -> list[Any] | None:
    """``Gather(Mul(Cast(q), scale), ids)`` as ``Mul(Cast(Gather(q, ids)), its scale)``."""
    from onnx import TensorProto, helper

    axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
    found = _int8_table(graph, node.input[0]) if axis == 0 else None
    if found is None:
        return None
    table, scale, per_row = found
    ids, out = node.input[1], node.output[0]
    replacement = [
        helper.make_node("Gather", [table, ids], [f"{out}/q"], axis=0),
        helper.make_node("Cast", [f"{out}/q"], [f"{out}/f"], to=TensorProto.FLOAT),
    ]
    if per_row:
        replacement.append(helper.make_node("Gather", [scale, ids], [f"{out}/s"], axis=0))
    replacement.append(
        helper.make_node("Mul", [f"{out}/f", f"{out}/s" if per_row else scale], [out])
    )
    return replacement


def _int8_product(graph: Any, node: Any, opset: int) -> list[Any] | None:
    """``MatMul(x, Mul(Cast(q), column scale))`` computed from the int8 weights: each row of
    ``x`` (a token) scaled to 8 bits on its own, ``MatMulInteger`` with ``q`` itself, the
    product scaled back by the token's scale and the column scale."""
    from onnx import TensorProto, helper, numpy_helper

    found = _int8_table(graph, node.input[1])
    if found is None or found[2]:  # a scale per row (input feature) cannot move past the sum
        return None
    table, scale, _ = found
    known = {tensor.name for tensor in graph.initializer}
    for name, value in _CONSTANTS.items():
        if name not in known:
            graph.initializer.append(numpy_helper.from_array(value, name))
    x, out = node.input[0], node.output[0]
    if opset >= 18:  # the axes became an input
        peak = helper.make_node("ReduceMax", [f"{out}/abs", _AXES], [f"{out}/peak"], keepdims=1)
    else:
        peak = helper.make_node("ReduceMax", [f"{out}/abs"], [f"{out}/peak"], axes=[-1], keepdims=1)
    return [
        helper.make_node("Abs", [x], [f"{out}/abs"]),
        peak,
        helper.make_node("Div", [f"{out}/peak", _STEPS], [f"{out}/step0"]),
        helper.make_node("Add", [f"{out}/step0", _TINY], [f"{out}/step"]),
        helper.make_node("Div", [x, f"{out}/step"], [f"{out}/steps"]),
        helper.make_node("Round", [f"{out}/steps"], [f"{out}/rounded"]),
        helper.make_node("Add", [f"{out}/rounded", _MIDDLE], [f"{out}/shifted"]),
        helper.make_node("Cast", [f"{out}/shifted"], [f"{out}/x8"], to=TensorProto.UINT8),
        helper.make_node("MatMulInteger", [f"{out}/x8", table, _ZERO], [f"{out}/int"]),
        helper.make_node("Cast", [f"{out}/int"], [f"{out}/float"], to=TensorProto.FLOAT),
        helper.make_node("Mul", [f"{out}/float", f"{out}/step"], [f"{out}/unscaled"]),
        helper.make_node("Mul", [f"{out}/unscaled", scale], [out]),
    ]


def write_lean_model(source: Path, target: Path, source_sha256: str) -> int:
    """Write the lean graph of ``source`` (whose sha256 is ``source_sha256``) to ``target``
    atomically; the number of tables rewritten.

    Raises ImportError when the ``onnx`` package is missing (the caller keeps the original).
    """
    import onnx

    model = onnx.load(str(source))
    rewritten = lean_graph(model)
    for key, value in ((_SOURCE_KEY, source_sha256), (_VERSION_KEY, LEAN_VERSION)):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    with atomic_file(target, mode=0o644) as handle:
        handle.write(model.SerializeToString())
    return rewritten


def lean_graph_matches(metadata: dict[str, str], source_sha256: str) -> bool:
    """Whether a loaded lean graph's metadata says it was made from ``source_sha256`` by
    this version of the rewrite."""
    return metadata.get(_SOURCE_KEY) == source_sha256 and metadata.get(_VERSION_KEY) == LEAN_VERSION


def lean_file_matches(path: Path, source_sha256: str) -> bool:
    """Whether the lean graph at ``path`` exists and was made from ``source_sha256`` by this
    version of the rewrite (reads it with onnx; False when onnx is missing)."""
    try:
        import onnx

        model = onnx.load(str(path))
    except Exception:  # missing, unreadable, or no onnx package
        return False
    return lean_graph_matches({p.key: p.value for p in model.metadata_props}, source_sha256)
