"""One size grammar (`wan_cli.sizes`) for `--size`, the config's `size` and batch lines; one home
for the providers' names and URLs (`wan_cli.providers`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wan_cli import providers, sizes
from wan_cli.api import request
from wan_cli.errors import UsageError
from wan_cli.settings import parse_value

MODES = tuple(sizes.PIXEL_RANGE)
# Each spelling of one size, and strings some mode refuses.
SPELLINGS = ["1280*720", "1280x720", "1280X720", "1280 x 720", " 1280 * 720 ", "1280×720"]
OTHERS = [
    "2048*2048",  # edit only
    "1k",
    " 2K ",
    "1K",  # edit only
    "768*768",
    "big",
    "1280",
    "1280*",
    "1280**720",
    "-1280*720",
    "1.5K",
    "3K",
    "100*100",
    "4000*400",  # 10:1
    "1280 x 720 x 3",
]


def _request_accepts(text: str, mode: str) -> str | None:
    try:
        return request.parse_size(text, mode)
    except UsageError:
        return None


@pytest.mark.parametrize("text", SPELLINGS)
@pytest.mark.parametrize("mode", MODES)
def test_every_spelling_is_one_size_for_request_and_settings(text: str, mode: str) -> None:
    assert request.parse_size(text, mode) == "1280*720"
    assert parse_value("size", text) == "1280*720"


@pytest.mark.parametrize("text", SPELLINGS + OTHERS)
def test_settings_accept_exactly_what_some_mode_accepts(text: str) -> None:
    accepted = {mode: _request_accepts(text, mode) for mode in MODES}
    normalised = {size for size in accepted.values() if size is not None}
    if normalised:
        assert len(normalised) == 1  # the modes differ in limits, never in spelling
        assert parse_value("size", text) == normalised.pop()
    else:
        with pytest.raises(ValueError):
            parse_value("size", text)


def test_presets_exist_in_edit_only() -> None:
    assert request.parse_size("2k", "edit") == "2K"
    with pytest.raises(UsageError, match="invalid size '2k': use W\\*H"):
        request.parse_size("2k", "generate")
    assert sizes.PRESET_MODES == ("edit",)
    assert all(preset in sizes.RECOMMENDED_SIZES["edit"] for preset in sizes.PRESETS)


def test_batch_lines_use_the_same_grammar() -> None:
    inputs = request.GenerateInputs(mode="generate", prompt="a fox", size="1280 x 720")
    request.validate_inputs(inputs)  # batch validates each line's GenerateInputs here
    assert request.build_request(inputs).body["parameters"]["size"] == "1280*720"


# -- providers --------------------------------------------------------------------------------


def test_request_and_settings_share_the_providers() -> None:
    import wan_cli.settings as settings

    for name in ("PROVIDERS", "DEFAULT_BASE_URLS"):
        assert getattr(settings, name) is getattr(providers, name)
    for name in ("PROVIDERS", "DEFAULT_BASE_URLS", "ENDPOINT_PATHS", "DEFAULT_MODEL"):
        assert getattr(request, name) is getattr(providers, name)
    assert set(providers.DEFAULT_BASE_URLS) == set(providers.PROVIDERS)
    assert set(providers.ENDPOINT_PATHS) == set(providers.PROVIDERS)
    assert providers.DEFAULT_PROVIDER in providers.PROVIDERS
    assert set(providers.ASYNC_PROVIDERS) <= set(providers.PROVIDERS)
    defaults = settings.resolve({}, {}, settings.ConfigFile(path=Path("config.toml")))
    assert defaults.provider == providers.DEFAULT_PROVIDER
    assert defaults.model == providers.DEFAULT_MODEL


@pytest.mark.parametrize("provider", providers.PROVIDERS)
def test_each_default_base_url_is_of_its_providers_kind(provider: str) -> None:
    suffix = providers.BASE_URL_SUFFIXES[provider]
    assert providers.DEFAULT_BASE_URLS[provider].endswith(suffix)
    inputs = request.GenerateInputs(mode="generate", prompt="a fox", provider=provider)
    url = request.build_request(inputs).url
    assert url == providers.DEFAULT_BASE_URLS[provider] + providers.ENDPOINT_PATHS[provider]
