"""The providers `wan` speaks to, and where each one's API lives: the single home of these facts.

Pure constants, no imports: `settings` (defaults, validation) and `api.request` (URLs) both read
them, and importing this costs nothing at start-up.
"""

from __future__ import annotations

PROVIDERS: tuple[str, ...] = ("gateway", "dashscope", "mock")
# The offline mock (`wan_cli.mock`): the gateway's protocol, served by `wan` itself on a free
# loopback port for the length of a command; no key, nothing billed.
MOCK = "mock"
DEFAULT_PROVIDER = "gateway"
DEFAULT_MODEL = "wan2.6-image"

# The path a provider's base URL ends with (its endpoint paths are appended to the base URL):
# the gateway is OpenAI-style (`…/v1`), DashScope's native API is `…/api/v1` in every region.
BASE_URL_SUFFIXES: dict[str, str] = {"gateway": "/v1", "dashscope": "/api/v1", "mock": "/v1"}
DEFAULT_BASE_URLS: dict[str, str] = {
    "gateway": "https://api.tokenhot.ai/v1",
    "dashscope": "https://dashscope.aliyuncs.com/api/v1",
    # Port 0: the embedded mock's port is chosen when it starts (a dry run shows this).
    "mock": "http://127.0.0.1:0/v1",
}

# The synchronous endpoint (streamed or not) per provider; both serve generate and edit.
ENDPOINT_PATHS: dict[str, str] = {
    "gateway": "/images/generations",
    "dashscope": "/services/aigc/multimodal-generation/generation",
    "mock": "/images/generations",
}
# DashScope's async API: submit here with `X-DashScope-Async: enable`, then poll `/tasks/{id}`.
ASYNC_ENDPOINT_PATH = "/services/aigc/image-generation/generation"
ASYNC_PROVIDERS: tuple[str, ...] = ("dashscope",)
