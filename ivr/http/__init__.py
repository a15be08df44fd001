"""The HTTP API and ops console (aiohttp), bound to 127.0.0.1."""
