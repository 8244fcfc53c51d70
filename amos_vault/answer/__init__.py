"""Answer: the context builder, dialogue engines, the orchestrator and hooks.

May import: core, files, sessions, index, llm.
"""
