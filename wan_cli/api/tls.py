"""The TLS context of every HTTP client: one per process, and its CA certificates loaded on the
first https connection, never for a run that only speaks http:// (the offline mock, loopback
tests, a local gateway).

httpx builds a context for each client it makes (`ssl.create_default_context(cafile=certifi)`),
and parsing certifi's bundle costs ~25 ms: a run makes two clients (the API's and the image
hosts'), so it paid ~50 ms before sending anything, even to an http:// service. Here the
clients share one context configured exactly as httpx's (tests/test_tls.py compares them),
which loads the certificates when the first TLS handshake starts.
"""

from __future__ import annotations

import os
import ssl
import sys
import threading
from typing import Any

_contexts: dict[tuple[str | None, str | None], LazyTLSContext] = {}
_made = threading.Lock()


class LazyTLSContext(ssl.SSLContext):
    """`ssl.create_default_context(cafile=…, capath=…)`, with the certificates loaded on first
    use (`wrap_socket`, `wrap_bio`: every TLS connection, direct or through a proxy)."""

    _cafile: str | None
    _capath: str | None
    _loaded: bool
    _loading: threading.Lock

    def __new__(cls, cafile: str | None = None, capath: str | None = None) -> LazyTLSContext:
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)

    def __init__(self, cafile: str | None = None, capath: str | None = None) -> None:
        # What create_default_context(Purpose.SERVER_AUTH) sets besides the certificates.
        self.verify_mode = ssl.CERT_REQUIRED
        self.check_hostname = True
        if sys.version_info >= (3, 13):  # pragma: no cover - the defaults of 3.13+
            self.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | ssl.VERIFY_X509_STRICT
        keylog = os.environ.get("SSLKEYLOGFILE")
        if keylog and not sys.flags.ignore_environment:
            self.keylog_filename = keylog
        self._cafile = cafile
        self._capath = capath
        self._loaded = False
        self._loading = threading.Lock()

    def load(self) -> None:
        """Load the CA certificates now (once; thread-safe)."""
        if self._loaded:
            return
        with self._loading:
            if not self._loaded:
                self.load_verify_locations(self._cafile, self._capath)
                self._loaded = True

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self.load()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self.load()
        return super().wrap_bio(*args, **kwargs)


def tls_context(trust_env: bool = True) -> ssl.SSLContext:
    """The shared context for a client, verifying against what httpx would: `SSL_CERT_FILE`
    or `SSL_CERT_DIR` when the client trusts the environment, else certifi's bundle."""
    cafile: str | None = None
    capath: str | None = None
    if trust_env and os.environ.get("SSL_CERT_FILE"):
        cafile = os.environ["SSL_CERT_FILE"]
    elif trust_env and os.environ.get("SSL_CERT_DIR"):
        capath = os.environ["SSL_CERT_DIR"]
    else:
        import certifi

        cafile = certifi.where()
    with _made:
        context = _contexts.get((cafile, capath))
        if context is None:
            context = _contexts[(cafile, capath)] = LazyTLSContext(cafile, capath)
        return context
