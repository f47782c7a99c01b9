"""Everything that talks to a studyroom server from outside: the Python SDK, and later the CLI
client commands, the browser page and the load generator."""
