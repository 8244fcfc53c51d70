"""The MCP server: the vault's memory as tools and resources for any MCP client.

`tools` does the work in plain Python (`VaultTools`, through the one `VaultClient`);
`server` exposes it through the `mcp` SDK. Only `server` imports `mcp`.
"""
