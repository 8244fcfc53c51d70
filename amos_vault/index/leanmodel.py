"""A leaner copy of the default model's graph: the same numbers, less memory.

The default model stores its weights as int8 with a float scale, dequantised in the graph
(``Mul(Cast(int8 weights), scale)``). onnxruntime folds those constants into float32 tensors
when it loads the model, so the word-embedding table alone (30,522 x 384) becomes 47 MB of
float32, and loading briefly holds both copies. Yet a query reads a few dozen rows of it.

`write_lean_model` rewrites each ``Gather(Mul(Cast(q), scale), ids)`` into
``Mul(Cast(Gather(q, ids)), Gather(scale, ids))`` (or the column scale itself): it gathers
the int8 rows first and scales only those. Row by row these are the same float operations
on the same values, so the vectors are bit-for-bit those of the original file (a test holds
it to that), while the table stays int8 in memory. The matrix multiplications are left as
they are: computing them from int8 weights is slower or changes the numbers (measured:
onnxruntime's 8-bit MatMulNBits took a query from 3 ms to 21 ms exactly, or moved vectors
by a cosine of 5e-4 with int8 arithmetic).

The file is derived: `amosvault model install` writes it next to ``model.onnx`` (the
verified original stays), recording the original's sha256 and this rewrite's version in the
graph's metadata; the loader uses it only when both match (`lean_graph_matches`), and the
original otherwise. Measured: about 35 MB less once loaded, and a load peak about 90 MB lower.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from amos_vault.files.vault import atomic_file

LEAN_MODEL_FILE = "model-lean.onnx"
LEAN_VERSION = "1"  # raise it when `lean_graph` changes: older lean files are then not used
LEAN_COST = "about 35 MB more memory"  # what running without the lean graph costs
_SOURCE_KEY, _VERSION_KEY = "amos_lean_source_sha256", "amos_lean_version"


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
    """Rewrite ``model`` (an ``onnx.ModelProto``) in place; the number of tables rewritten."""
    from onnx import TensorProto, helper

    graph = model.graph
    rewritten = 0
    for node in list(graph.node):
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        if node.op_type != "Gather" or axis != 0:
            continue
        found = _int8_table(graph, node.input[0])
        if found is None:
            continue
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
        at = list(graph.node).index(node)
        graph.node.remove(node)
        for offset, new in enumerate(replacement):
            graph.node.insert(at + offset, new)
        rewritten += 1
    _drop_unused(graph)
    return rewritten


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
