"""Admin: vault scaffold, doctor, export, importers (ChatGPT, Claude, JSON lines) and git
history.

May import: core, files, sessions, index, llm.
"""
