"""The prompt of a run: the argument, `--prompt-file`, or stdin."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TextIO

from wan_cli.errors import UsageError

# The example in the "no prompt" hint, per mode: one that works as typed.
_EXAMPLES = {
    "generate": 'wan generate "an autumn painting" --dry-run',
    "edit": 'wan edit "make the sky stormy" --ref photo.jpg --dry-run',
}


def read_prompt(
    prompt: str | None, prompt_file: Path | None, stdin: TextIO, *, mode: str = "generate"
) -> str:
    """The prompt from the argument, `--prompt-file`, or stdin ('-' or omitted with a pipe).

    Stdin is read only when asked for ('-') or when no prompt was given and stdin is not a
    terminal: a CI runner's open stdin is never waited on when the prompt is on the command line.
    """
    if prompt is not None and prompt_file is not None and prompt != "-":
        raise UsageError("give the prompt either as an argument or with --prompt-file, not both")
    if prompt_file is not None:
        try:
            # utf-8-sig: an editor's BOM is not part of the prompt; nor is the final newline.
            text = prompt_file.expanduser().read_text(encoding="utf-8-sig").rstrip("\n")
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"cannot read prompt file {prompt_file}: {_reason(error)}") from None
        return text
    if prompt == "-" or (prompt is None and _stdin_has_data(stdin)):
        text = stdin.read()
        if not text.strip():
            raise UsageError("the prompt read from stdin is empty")
        return text.rstrip("\n")
    if prompt is None:
        raise UsageError(
            "no prompt: give it as an argument, with --prompt-file, or on stdin",
            hint=f"e.g. {_EXAMPLES.get(mode, _EXAMPLES['generate'])}",
        )
    return prompt


def _stdin_has_data(stdin: TextIO) -> bool:
    isatty = getattr(stdin, "isatty", None)
    if isatty is None or isatty():
        return False
    try:
        mode = os.fstat(stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return True  # an in-memory stream (tests): readable without blocking
    # A pipe, a file or a socket; /dev/null-like character devices are not a prompt.
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode) or stat.S_ISSOCK(mode)


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)
