"""Core: typed errors, settings (config), schedule strings and plugin discovery.

Imports nothing else of amos_vault.
"""
