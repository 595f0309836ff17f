"""The prompt of a run: the argument, `--prompt-file`, or stdin.

Stdin and the prompt file are read up to a bound (`MAX_PROMPT_READ`): `yes | wan generate` or
`--prompt-file /dev/zero` never end, and a prompt is at most 2,000 characters anyway, so more
than the bound is refused (exit 2) instead of read until memory runs out.
"""

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

# Characters read at most from stdin or a prompt file (a prompt may hold at most 2,000; the
# rest of the room is for whitespace and comments people paste along).
MAX_PROMPT_READ = 64 * 1024


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
            with prompt_file.expanduser().open(encoding="utf-8-sig") as fh:
                text = fh.read(MAX_PROMPT_READ + 1)
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"cannot read prompt file {prompt_file}: {_reason(error)}") from None
        _check_length(text, f"prompt file {prompt_file}")
        return text.rstrip("\n")
    if prompt == "-" or (prompt is None and _stdin_has_data(stdin)):
        text = stdin.read(MAX_PROMPT_READ + 1)
        _check_length(text, "stdin")
        if not text.strip():
            raise UsageError("the prompt read from stdin is empty")
        return text.rstrip("\n")
    if prompt is None:
        raise UsageError(
            "no prompt: give it as an argument, with --prompt-file, or on stdin",
            hint=f"e.g. {_EXAMPLES.get(mode, _EXAMPLES['generate'])}",
        )
    return prompt


def _check_length(text: str, where: str) -> None:
    """Refuse input past the bound: the rest is never read (it may never end)."""
    from wan_cli.api.request import MAX_PROMPT_CHARS

    if len(text) > MAX_PROMPT_READ:
        raise UsageError(
            f"the prompt is longer than {MAX_PROMPT_READ:,} characters ({where}):"
            " stopped reading it",
            hint=f"a prompt is at most {MAX_PROMPT_CHARS:,} characters",
        )


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
