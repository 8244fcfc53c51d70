"""The default model, run directly on onnxruntime and tokenizers.

This is what fastembed does for a mean-pooled, normalised BERT model (the same tokenizer
settings, the same pooling in float64, the same normalisation; a test holds the vectors equal
to fastembed's), without importing fastembed: its import pulls in some 600 modules (an HTTP
stack, a model-hub client, an image library) and costs about 36 MB in every process that
loads the model, an eighth of the query process's memory budget. fastembed still runs any
other configured model (`embeddings.open_embedder`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from amos_vault.index.leanmodel import LEAN_MODEL_FILE, lean_graph_matches


class LocalModel:
    """A mean-pooled, L2-normalised sentence encoder in an installed model folder; several
    threads may call `embed` at once (the tokenizer and the session are not changed by it)."""

    def __init__(
        self,
        folder: Path,
        *,
        threads: int | None,
        session_options: dict[str, Any],
        source_sha256: str | None = None,
    ):
        """Load the model in ``folder``: its lean graph when that was made from the
        ``model.onnx`` whose sha256 is ``source_sha256`` (see `leanmodel`), else the
        original."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        config = json.loads((folder / "tokenizer_config.json").read_text())
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.enable_truncation(
            max_length=int(config["model_max_length"]),
            direction=config.get("truncation_side", "right"),
        )
        special = json.loads((folder / "special_tokens_map.json").read_text())
        tokenizer.add_special_tokens(list(special.values()))
        padding = tokenizer.padding or {}
        pad_token = padding.get("pad_token") or config["pad_token"]
        tokenizer.enable_padding(
            direction=config.get("padding_side", "right"),
            pad_id=padding.get("pad_id", tokenizer.token_to_id(pad_token)),
            pad_type_id=padding.get("pad_type_id", 0),
            pad_token=pad_token,
        )
        self._tokenizer = tokenizer

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = threads
        for name, value in session_options.items():
            setattr(options, name, value)

        # The lean graph gives the same vectors in less memory; an install made by an
        # earlier version has only the original (`amosvault model install` adds the lean one).
        def session(graph: Path) -> Any:
            return ort.InferenceSession(
                str(graph), sess_options=options, providers=["CPUExecutionProvider"]
            )

        lean = folder / LEAN_MODEL_FILE
        chosen = None
        if source_sha256 and lean.is_file():
            chosen = session(lean)
            if not lean_graph_matches(chosen.get_modelmeta().custom_metadata_map, source_sha256):
                chosen = None  # made from another file, or by another version of the rewrite
        self.graph_file = LEAN_MODEL_FILE if chosen is not None else "model.onnx"
        self._session = chosen if chosen is not None else session(folder / "model.onnx")
        self._inputs = {node.name for node in self._session.get_inputs()}

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> Iterator[np.ndarray]:
        """One unit vector (float32) per text, in order."""
        for start in range(0, len(texts), batch_size):
            encoded = self._tokenizer.encode_batch(list(texts[start : start + batch_size]))
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            feed = {"input_ids": ids}
            if "attention_mask" in self._inputs:
                feed["attention_mask"] = mask
            if "token_type_ids" in self._inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            tokens = self._session.run(None, feed)[0]
            # Mean over the real tokens, summed in float64, then unit length.
            real = mask[:, :, np.newaxis].astype(bool)
            sums = np.sum(tokens, axis=1, where=real, dtype=np.float64)
            pooled = sums / np.maximum(np.sum(mask, axis=1, keepdims=True), 1e-9)
            norms = np.maximum(np.linalg.norm(pooled, ord=2, axis=1, keepdims=True), 1e-12)
            yield from (pooled / norms).astype(tokens.dtype, copy=False)
