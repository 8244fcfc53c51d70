"""Implementations of `amos_vault.index.engine.IndexEngine`: the embedded engine (Tantivy and
the vector sidecar under ``.amos/index/``) and the PostgreSQL one."""
