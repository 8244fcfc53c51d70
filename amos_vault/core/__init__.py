"""Core: typed errors, settings (config), schedule strings, the environment (the one module
below the interfaces that reads it) and plugin discovery.

Imports nothing else of amos_vault.
"""
