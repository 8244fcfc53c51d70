"""Memory: memory notes (facts, summaries), consolidation of sessions into them, the
summarizer engines (extractive, ollama) and their rules.

May import: core, files, sessions, index, llm.
"""
