"""Files: the vault folder (paths, atomic writes, locks), the front-matter reader/writer, the
session and memory-note formats, the owner's identity and tamper evidence.

May import: core.
"""
