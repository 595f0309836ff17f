"""The one module that imports typer's and httpx-sse's private modules.

- typer 0.29 vendors click as `typer._click` and converts values in `typer._coercion` and
  `typer._param_types`. `cli/fast_start.py` builds on them for start-up speed (click's help
  formatter; typer's conversion with a pydantic-free path in front), `cli/app.py` tells click's
  own errors apart, and scripts/gen_docs.py uses click's option joining and typer's completion
  template. typer exports none of these.
- httpx-sse offers its spec-following decoders publicly only wrapped around an httpx response;
  `api/sse.py` feeds them bytes itself (`httpx_sse._decoders`).

A typer or httpx-sse upgrade that moves any of this is this file's problem alone:
tests/test_compat.py holds what is built here equal to typer's public behaviour, and checks
that no other module imports a private typer or httpx-sse module.

Nothing is imported at the top: the CLI must not load httpx-sse (it imports httpx), and
`api/sse.py` must not load typer. Functions import what they use when called; the two typer
classes other modules name load on first access (PEP 562 `__getattr__`, below).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from httpx_sse._decoders import SSEDecoder, SSELineDecoder
    from typer._click.formatting import HelpFormatter as HelpFormatter
    from typer._coercion import RuntimeParam
    from typer._coercion import TypeDescriptor as TypeDescriptor


def __getattr__(name: str) -> Any:
    """`HelpFormatter` (click's, to subclass) and `TypeDescriptor` (typer's description of a
    parameter's type), imported on first access."""
    if name == "HelpFormatter":
        from typer._click.formatting import HelpFormatter

        return HelpFormatter
    if name == "TypeDescriptor":
        from typer._coercion import TypeDescriptor

        return TypeDescriptor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- typer: click's errors --------------------------------------------------------------------


def is_click_exception(error: BaseException) -> bool:
    """Whether `error` is one click reports itself (usage errors, bad parameters, …)."""
    from typer._click.exceptions import ClickException

    return isinstance(error, ClickException)


# -- typer: converting parameter values -------------------------------------------------------
# typer converts a value with the `RuntimeParam` its parameter holds, built from the parameter's
# `TypeDescriptor` on first use. `convert_first` installs one that asks a function first. What a
# first conversion may read of a descriptor: `annotation`, `is_list`, `is_choice`, `is_path`
# and `parameter_info` (`parser`, `min`, `max`, `path_type`, and what `checked_path` checks).

UNCONVERTED: Final = object()
"""What a first conversion returns to leave the value to typer's own conversion."""

FirstConversion = Callable[["TypeDescriptor", Any, Any, Any], Any]
"""`(descriptor, value, param, ctx)` -> the converted value, or `UNCONVERTED`."""


def convert_first(params: Iterable[Any], convert: FirstConversion) -> None:
    """Have each typer parameter in `params` try `convert` before typer's own conversion.

    A value `convert` returns `UNCONVERTED` for goes to typer's conversion, which the parameter
    then keeps. Parameters that are not typer's (click's `--help`) and those whose conversion
    is already built are left as they are.
    """
    from typer.core import _TyperParameter

    runtime_class = _first_runtime_param()
    for param in params:
        if isinstance(param, _TyperParameter) and param._runtime_param is None:
            descriptor = param.type_descriptor
            param._runtime_param = runtime_class(
                descriptor.parameter_info, descriptor.annotation, descriptor, convert
            )


@functools.cache
def _first_runtime_param() -> Callable[[Any, Any, TypeDescriptor, FirstConversion], RuntimeParam]:
    # A class made on first use: its base, typer's `RuntimeParam`, must not load with this module.
    from dataclasses import dataclass

    from typer._coercion import RuntimeParam, build_runtime_param

    @dataclass(frozen=True)
    class FirstRuntimeParam(RuntimeParam):
        descriptor: TypeDescriptor
        convert: FirstConversion

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            converted = self.convert(self.descriptor, value, param, ctx)
            if converted is not UNCONVERTED:
                return converted
            full = build_runtime_param(self.descriptor)
            param._runtime_param = full  # typer's conversion from now on
            return full._coerce_value(value, param=param, ctx=ctx)

    return FirstRuntimeParam


def checked_path(path: Path, parameter_info: Any, param: Any = None, ctx: Any = None) -> Any:
    """`path` checked and resolved as typer does for a `Path` parameter (`exists`,
    `file_okay`, `dir_okay`, `resolve_path`, …); raises typer's `BadParameter`."""
    from typer._param_types import coerce_cli_path

    return coerce_cli_path(path, parameter_info, path_type=Path, param=param, ctx=ctx)


def type_descriptor(annotation: Any, **option: Any) -> TypeDescriptor:
    """typer's descriptor of an option `annotation` declared with `typer.Option(**option)`."""
    from typer._coercion import resolve_type_descriptor
    from typer.models import OptionInfo

    return resolve_type_descriptor(annotation, OptionInfo(**option))


def typer_conversion(
    descriptor: TypeDescriptor, value: Any, param: Any = None, ctx: Any = None
) -> Any:
    """`value` converted by typer's own conversion alone (what `convert_first` falls back to)."""
    from typer._coercion import build_runtime_param

    return build_runtime_param(descriptor)._coerce_value(value, param=param, ctx=ctx)


# -- typer: what the docs generator uses ------------------------------------------------------


def join_options(options: Sequence[str]) -> str:
    """Option names as click's help shows them: `-s, --size`."""
    from typer._click.formatting import join_options

    return join_options(options)[0]


def completion_script(prog_name: str, complete_var: str, shell: str) -> str:
    """typer's completion script for `prog_name` in `shell` (what `--show-completion` prints)."""
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name=prog_name, complete_var=complete_var, shell=shell)


# -- httpx-sse --------------------------------------------------------------------------------


def sse_decoders() -> tuple[SSELineDecoder, SSEDecoder]:
    """A fresh line decoder (text -> lines) and message decoder (lines -> messages)."""
    # Imported here, not at the top: httpx_sse/__init__ imports httpx.
    from httpx_sse._decoders import SSEDecoder, SSELineDecoder

    return SSELineDecoder(), SSEDecoder()
