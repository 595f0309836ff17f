"""One run: options assembled into a request and its config, then the answer consumed."""
