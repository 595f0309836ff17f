"""A 404 or 405 from the API: almost always a base URL without its suffix (`…/v1`,
`…/api/v1`), so the error names the full URL tried and what a base URL looks like."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wan_cli.providers import (
    ASYNC_ENDPOINT_PATH,
    BASE_URL_SUFFIXES,
    DEFAULT_BASE_URLS,
    ENDPOINT_PATHS,
    MOCK,
)

if TYPE_CHECKING:
    from wan_cli.api.request import PreparedRequest
    from wan_cli.errors import WanError


def explain_not_found(failure: WanError, prepared: PreparedRequest) -> WanError:
    """`failure` (a 404/405) naming the URL tried, with a hint on the base URL's shape when no
    service code says otherwise, or when the base URL lacks its provider's suffix."""
    from wan_cli.api.request import url_without_password

    failure.message += f" ({prepared.method} {url_without_password(prepared.url)})"
    base = base_url_of(prepared)
    suffix = BASE_URL_SUFFIXES.get(prepared.provider)
    if suffix is not None and base is not None and not base.endswith(suffix):
        shown = url_without_password(base)
        failure.hint = (
            f"the base URL {shown} does not end with {suffix} (try {_with_suffix(shown, suffix)}):"
            f" {base_url_shapes()}"
        )
    elif failure.code is None and failure.hint is None:
        failure.hint = f"no API answers at this URL: check the base URL; {base_url_shapes()}"
    return failure


def base_url_shapes() -> str:
    """What a base URL looks like, per provider (for hints)."""
    gateway, dashscope = DEFAULT_BASE_URLS["gateway"], DEFAULT_BASE_URLS["dashscope"]
    return (
        f"a gateway's base URL ends with {BASE_URL_SUFFIXES['gateway']} ({gateway}), "
        f"DashScope's with {BASE_URL_SUFFIXES['dashscope']} ({dashscope}); "
        "set it with --base-url, WAN_BASE_URL or `wan config set base-url`"
    )


def _with_suffix(base: str, suffix: str) -> str:
    """`base` ending with `suffix` instead of another provider's (`…/v1` → `…/api/v1`)."""
    for other in sorted(BASE_URL_SUFFIXES.values(), key=len, reverse=True):
        if base.endswith(other):
            return base[: -len(other)] + suffix
    return base + suffix


def base_url_of(prepared: PreparedRequest) -> str | None:
    """The base URL a request was built on (its URL without the endpoint path), if known."""
    url = prepared.url
    if prepared.provider == MOCK:
        return None
    for path in (ENDPOINT_PATHS.get(prepared.provider), ASYNC_ENDPOINT_PATH):
        if path and url.endswith(path):
            return url[: -len(path)]
    if "/tasks/" in url:
        return url.rpartition("/tasks/")[0]
    return None
