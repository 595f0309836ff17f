"""The typed options that cross from the command line into the core.

Each command builds these frozen dataclasses from its flags and hands them on; nothing below
the CLI sees a flag's parameter name. History stores `RequestOptions` (as the request's
parameters) and `history rerun` rebuilds the same type, so mypy checks the replay too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wan_cli.api.request import Mode


@dataclass(frozen=True)
class SettingFlags:
    """Flags that name a setting (None: not given; then env > profile > built-in decide)."""

    profile: str | None = None
    provider: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    model: str | None = None
    timeout: float | None = None
    deadline: float | None = None
    retries: int | None = None
    output_dir: Path | None = None

    def layer(self) -> dict[str, object | None]:
        """The command line's layer for `settings.resolve_settings`."""
        return {
            "profile": self.profile,
            "provider": self.provider,
            "base_url": self.base_url,
            "api_key": self.api_key,
            "model": self.model,
            "timeout": self.timeout,
            "deadline": self.deadline,
            "retries": self.retries,
            "output_dir": str(self.output_dir) if self.output_dir is not None else None,
        }


@dataclass(frozen=True)
class RequestOptions:
    """What is asked of the model (None: not given; the service's or the settings' default).

    `max_images` belongs to generate, `n` and `prompt_extend` to edit: the assembler drops the
    ones of the other mode, so one set of defaults can serve a batch that mixes both."""

    mode: Mode = "generate"
    prompt: str | None = None  # None: read from --prompt-file or stdin
    refs: tuple[str, ...] = ()
    size: str | None = None
    max_images: int | None = None
    n: int | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    watermark: bool | None = None
    prompt_extend: bool | None = None


@dataclass(frozen=True)
class OutputFlags:
    """How results are shown and kept."""

    json_output: bool = False
    quiet: bool = False
    verbose: bool = False
    no_metadata: bool = False
    no_history: bool = False
    preview: bool | None = None  # None: the `preview` setting decides
    preview_protocol: str | None = None


@dataclass(frozen=True)
class GenerateOptions:
    """Everything `wan generate`, `wan edit` and `wan history rerun` were told."""

    request: RequestOptions
    settings: SettingFlags = field(default_factory=SettingFlags)
    output: OutputFlags = field(default_factory=OutputFlags)
    prompt_file: Path | None = None
    dry_run: bool = False
    curl: bool = False
    async_task: bool = False
    rerun_of: int | None = None  # the history id this run repeats


def check_mode(text: str, flag: str = "--mode") -> Mode:
    """A mode given as text (a flag's value), checked."""
    if text == "generate":
        return "generate"
    if text == "edit":
        return "edit"
    from wan_cli.errors import UsageError

    raise UsageError(f"{flag} must be generate or edit, got {text!r}")
