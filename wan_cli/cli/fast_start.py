"""Start-up speed for the typer app: what `wan --help` and a command's first milliseconds cost.

`wan` is called thousands of times from scripts, so start-up matters (docs/performance.md).
typer, as it comes, builds every command's parameters from their signatures, converts every
value through pydantic, and renders help with rich and markdown-it. This module keeps typer's
behaviour and output but pays only for what a command line uses:
- `WanTyper`: `app()` builds the group alone and each command the first time it is looked up;
- `quick_value`: the plain values our commands take are converted without pydantic, exactly as
  typer would (anything unusual is handed to typer's own conversion);
- `StyledHelpFormatter`: bold headings and cyan names on a colour terminal, without rich.
What this needs of typer's private modules comes through `wan_cli.compat`.
tests/test_startup.py and tests/test_compat.py check each against typer's own result;
benchmarks/ measures them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from wan_cli import compat
from wan_cli.compat import HelpFormatter

if TYPE_CHECKING:
    from wan_cli.compat import TypeDescriptor


class StyledHelpFormatter(HelpFormatter):
    """click's help layout with bold headings and cyan option and command names.

    typer's rich help imports rich, rich.markdown and markdown-it (~2x the start-up of the
    whole CLI); this is a few escape codes, used only on a colour terminal.
    """

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, typer.style(prefix or "Usage: ", bold=True))

    def write_heading(self, heading: str) -> None:
        super().write_heading(typer.style(heading, bold=True))

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        styled = [(typer.style(first, fg="cyan", bold=True), second) for first, second in rows]
        super().write_dl(styled, col_max, col_spacing)


class WanContext(typer.Context):
    def make_formatter(self) -> HelpFormatter:
        from wan_cli.ui.output import color_allowed

        if color_allowed(sys.stdout, os.environ):
            return StyledHelpFormatter(width=self.terminal_width, max_width=self.max_content_width)
        return super().make_formatter()


class LightGroup(TyperGroup):
    """A group that builds and lightens (see `_lighten`) only the subcommand that runs."""

    context_class = WanContext

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        _lighten(self, ctx, subcommands=False)  # a subcommand is lightened once it is chosen
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            _lighten(command, ctx)
        return name, command, rest

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names only: nothing gets built for them

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        commands = self.commands
        if not isinstance(commands, LazyCommands):
            return super().format_commands(ctx, formatter)
        # The list in `wan --help` needs each command's help text, not its parameters.
        self.commands = {name: commands.summary(name) for name in commands}
        try:
            super().format_commands(ctx, formatter)
        finally:
            self.commands = commands


# -- start-up: parameters without pydantic -------------------------------------------------
# typer 0.29 converts every parameter, even an absent one, through a pydantic TypeAdapter built
# on first use: importing pydantic and building adapters doubles the time and memory of
# `wan config show` and `wan generate --help`. The values our commands take (None, a flag, a
# string, a plain int/float, a path) are converted here exactly as typer would; anything else is
# handed to typer's own conversion, so behaviour and error messages are typer's.

_NOT_QUICK = compat.UNCONVERTED
_FLOAT_CHARS = frozenset("0123456789.-eE")


def quick_value(descriptor: TypeDescriptor, value: Any, param: Any = None, ctx: Any = None) -> Any:
    """`value` converted as typer would, or `_NOT_QUICK` when typer must do it itself."""
    info = descriptor.parameter_info
    annotation = descriptor.annotation
    kind = type(value)
    if info.parser is not None or descriptor.is_choice:
        return _NOT_QUICK
    if descriptor.is_list:
        items = getattr(annotation, "__args__", ())
        if items == (str,) and kind in (list, tuple) and all(type(v) is str for v in value):
            return list(value)
        return _NOT_QUICK
    if annotation is str or annotation is bool:
        return value if kind is annotation else _NOT_QUICK
    if kind is annotation and kind in (int, float):  # a default, already typed
        return _in_range(value, info)
    if kind is not str or not value:
        return _NOT_QUICK
    if annotation is int:
        digits = value[1:] if value[0] == "-" else value
        if digits.isascii() and digits.isdigit() and len(digits) < 4000:
            return _in_range(int(value), info)
    elif annotation is float and _FLOAT_CHARS.issuperset(value):
        try:
            return _in_range(float(value), info)
        except ValueError:
            pass
    elif descriptor.is_path and info.path_type is None and annotation is Path:
        return compat.checked_path(Path(value), info, param=param, ctx=ctx)
    return _NOT_QUICK


def _in_range(number: float, info: Any) -> Any:
    """`number` when it is within the option's `min`/`max` (typer clamps only with `clamp`);
    otherwise typer converts it, and words the error, itself."""
    if getattr(info, "clamp", False):
        return _NOT_QUICK
    if (info.min is not None and number < info.min) or (info.max is not None and number > info.max):
        return _NOT_QUICK
    return number


def _lighten(command: Any, ctx: Any, *, subcommands: bool = True) -> None:
    """Give every parameter of `command` (and of its subcommands) the quick conversion."""
    if not getattr(command, "_wan_light", False):
        command._wan_light = True
        command.context_class = WanContext  # styled help on a colour terminal
        compat.convert_first(command.get_params(ctx), quick_value)
    if subcommands:  # a nested group is not a WanGroup: lighten its commands now
        for sub in getattr(command, "commands", {}).values():
            _lighten(sub, ctx)


# -- start-up: build only the command that runs ------------------------------------------------
# typer builds every command's click parameters from its signature (evaluating each annotation)
# before parsing anything: with a dozen commands that is most of a `wan … --help`. `app()`
# builds the group alone, and each command the first time it is looked up; `wan --help` lists
# them from their help texts. (typer's CliRunner builds the whole tree the usual way.)


class LazyCommands(MutableMapping[str, Any]):
    """A group's commands by name, in registration order, each built on first access."""

    def __init__(self) -> None:
        self._builders: dict[str, Callable[[], Any]] = {}
        self._summaries: dict[str, Callable[[], Any]] = {}
        self._built: dict[str, Any] = {}

    def add(self, name: str, build: Callable[[], Any], summary: Callable[[], Any]) -> None:
        self._builders[name] = build
        self._summaries[name] = summary

    def summary(self, name: str) -> Any:
        """The built command, or a stand-in with its name and help texts but no parameters."""
        return self._built[name] if name in self._built else self._summaries[name]()

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = self._builders[name]()
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command
        self._builders.setdefault(name, lambda: command)
        self._summaries.setdefault(name, lambda: command)

    def __delitem__(self, name: str) -> None:
        del self._builders[name], self._summaries[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)


class WanTyper(typer.Typer):
    """A Typer whose `app()` builds each command only when the command line needs it."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.lazy_group()(*args, **kwargs)

    def lazy_group(self) -> LightGroup:
        from typer.main import get_command

        commands, groups = self.registered_commands, self.registered_groups
        self.registered_commands, self.registered_groups = [], []
        try:
            group = get_command(self)  # the callback, its options and completion: no commands
        finally:
            self.registered_commands, self.registered_groups = commands, groups
        if not isinstance(group, LightGroup):
            raise TypeError(f"the app must be built as a LightGroup, not {type(group).__name__}")
        lazy = LazyCommands()
        for command_info in commands:  # commands first, then groups: typer's order
            _add_command(lazy, command_info, self.pretty_exceptions_short, self.rich_markup_mode)
        for group_info in groups:
            _add_group(lazy, group_info, self)
        group.commands = lazy
        return group


def _add_command(lazy: LazyCommands, info: Any, pretty_exceptions_short: bool, markup: Any) -> None:
    import inspect

    from typer.core import TyperCommand
    from typer.main import get_command_from_info, get_command_name

    name = info.name or get_command_name(info.callback.__name__)

    def build() -> Any:
        return get_command_from_info(
            info, pretty_exceptions_short=pretty_exceptions_short, rich_markup_mode=markup
        )

    def summary() -> Any:
        text = inspect.getdoc(info.callback) if info.help is None else inspect.cleandoc(info.help)
        return TyperCommand(
            name=name,
            help=text,
            short_help=info.short_help,
            hidden=info.hidden,
            deprecated=info.deprecated,
            rich_markup_mode=markup,
        )

    lazy.add(name, build, summary)


def _add_group(lazy: LazyCommands, info: Any, app: typer.Typer) -> None:
    from typer.main import get_group_from_info, solve_typer_info_defaults

    def build() -> Any:
        return get_group_from_info(
            info,
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
            suggest_commands=app.suggest_commands,
        )

    solved = solve_typer_info_defaults(info)
    if not solved.name:  # add_typer() without a name merges its commands: build it now
        for name, command in build().commands.items():
            lazy[name] = command
        return

    def summary() -> Any:
        return TyperGroup(
            name=solved.name,
            help=solved.help,
            short_help=solved.short_help,
            hidden=solved.hidden,
            deprecated=solved.deprecated,
            rich_markup_mode=app.rich_markup_mode,
        )

    lazy.add(solved.name, build, summary)
