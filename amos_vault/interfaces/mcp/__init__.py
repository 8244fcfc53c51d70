"""The MCP server: the vault's memory as tools and resources for any MCP client."""
