"""Admin: vault scaffold, doctor, export and git history.

May import: core, files, sessions, index, llm.
"""
