"""A leaner copy of the default model's graph: the same vectors, less memory.

The default model stores its weights as int8 with a float scale, dequantised in the graph
(``Mul(Cast(int8 weights), scale)``). onnxruntime folds those constants into float32 tensors
when it loads the model: the word-embedding table alone (30,522 x 384) becomes 47 MB of
float32, the 36 weight matrices another 42 MB, and loading briefly holds both copies. Yet a
query reads a few dozen rows of the table, and the matrices are 10.6 MB as int8.

`lean_graph` rewrites the graph so the weights stay int8 in memory:

* each ``Gather(Mul(Cast(q), scale), ids)`` becomes ``Mul(Cast(Gather(q, ids)), Gather(scale,
  ids))`` (or the column scale itself): the int8 rows are gathered first and only those
  scaled, the same float operations on the same values;
* each ``MatMul(x, Mul(Cast(q), column scale))`` becomes ``Mul(MatMul(x, Cast(q)), column
  scale)``: the product is scaled by column after it is taken, which is the same sum with the
  scale applied once instead of per term, so a vector moves by at most a few units in the 7th
  decimal (a test holds it within 1e-6 of the original file's).

The loader runs the lean graph with onnxruntime's constant folding off (`LEAN_SESSION`), so
``Cast(q)`` is computed for each run instead of being stored as float32: a query spends about
2 ms more on it (3 -> 5 ms on a quiet machine), a batch of texts the same 2 ms. Computing the
products from int8 weights directly is faster but changes the numbers (measured: 8-bit
MatMulNBits took a query from 3 ms to 21 ms exactly; int8 arithmetic moved vectors by a cosine
of 2e-3 with each token quantised on its own, 6e-3 with the whole input at once).

The file is derived: `amosvault model install` writes it next to ``model.onnx`` (the
verified original stays), recording the original's sha256 and this rewrite's version in the
graph's metadata; the loader uses it only when both match (`lean_graph_matches`), and the
original otherwise. Measured, with the model loaded and 200 queries embedded: 38 MB against
75 MB for the table-only rewrite and about 110 MB for the original graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from amos_vault.files.vault import atomic_file

LEAN_MODEL_FILE = "model-lean.onnx"
LEAN_VERSION = "2"  # raise it when `lean_graph` changes: older lean files are then not used
LEAN_COST = "about 70 MB more memory"  # what running without the lean graph costs
_SOURCE_KEY, _VERSION_KEY = "amos_lean_source_sha256", "amos_lean_version"
# How the lean graph is run: folding ``Cast(int8 weights)`` would store them as float32 again.
LEAN_SESSION: dict[str, list[str]] = {"disabled_optimizers": ["ConstantFolding"]}


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
    rewritten = 0
    for node in list(graph.node):
        if node.op_type == "Gather":
            replacement = _gathered_rows(graph, node)
        elif node.op_type == "MatMul":
            replacement = _scaled_product(graph, node)
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


def _scaled_product(graph: Any, node: Any) -> list[Any] | None:
    """``MatMul(x, Mul(Cast(q), column scale))`` as ``Mul(MatMul(x, Cast(q)), column scale)``."""
    from onnx import TensorProto, helper

    found = _int8_table(graph, node.input[1])
    if found is None or found[2]:  # a scale per row (input feature) cannot move past the sum
        return None
    table, scale, _ = found
    out = node.output[0]
    return [
        helper.make_node("Cast", [table], [f"{out}/w"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", [node.input[0], f"{out}/w"], [f"{out}/unscaled"]),
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
