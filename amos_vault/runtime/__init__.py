"""Runtime: the daemon and what it runs (ipc socket, client, watcher, scheduler, jobs, systemd
unit).

May import: everything below it and `amos_vault.mirror`; the CLI and MCP must not be imported.
"""
