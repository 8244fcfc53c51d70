"""Interfaces: the `amosvault` command line and the MCP server. They read the environment
and the current folder; nothing imports them.

May import: everything.
"""
