"""Sessions: the session manager (create, find, change, link; locked, merged, atomic writes),
lifecycle and privacy.

May import: core, files.
"""
