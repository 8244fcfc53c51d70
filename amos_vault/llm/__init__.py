"""LLM: language-model providers (Ollama) behind one small protocol.

May import: core, files.
"""
