"""Index: chunks, the full-text index (Tantivy), the vector sidecar and embeddings, the model
install, the one sync path (plan -> apply) and hybrid retrieval.

May import: core, files.
"""
