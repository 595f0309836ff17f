"""The HTTP side: request bodies, the client, SSE framing, answers translated into events."""
