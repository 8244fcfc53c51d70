"""Core: typed errors, settings (config) and plugin discovery.

Imports nothing else of amos_vault.
"""
