"""``ctrlplane --help`` without click: the root help page, from :mod:`ctrlplane.cli.table`.

Importing click costs more than the interpreter's own start-up, so the most common help
page is laid out here, the way click lays out a group's help (usage line, the help text
indented by 2, then the option and command lists as two-column definition lists, the
first column at most 30 wide), at the width click would choose. A test keeps the page
equal to click's, character for character, at several terminal widths; any other help
request goes through click.
"""

from __future__ import annotations

import os
import sys
import textwrap

from ctrlplane.cli.table import COMMANDS, GLOBAL_OPTIONS, ROOT_HELP

__all__ = ["help_width", "root_help"]

USAGE_PREFIX = "Usage: ctrlplane "
USAGE_ARGS = "[OPTIONS] COMMAND [ARGS]..."
INDENT = 2
FIRST_COLUMN_MAX = 30
COLUMN_GAP = 2
MAX_CONTENT = 80
MIN_WIDTH = 50


def terminal_columns() -> int:
    """The terminal's width: ``$COLUMNS`` when it is a positive number, else the width of
    the terminal on stdout, else 80 (what :func:`shutil.get_terminal_size` answers)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        columns = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 0
    except (AttributeError, ValueError, OSError):
        columns = 0
    return columns if columns > 0 else 80


def help_width(columns: int | None = None) -> int:
    """The width the help is laid out in: the terminal's (``columns``), at most 80, less
    2, and never under 50."""
    columns = terminal_columns() if columns is None else columns
    return max(min(columns, MAX_CONTENT) - 2, MIN_WIDTH)


def _fill(text: str, width: int, indent: str = "") -> str:
    wrapper = textwrap.TextWrapper(
        width, initial_indent=indent, subsequent_indent=indent, replace_whitespace=False
    )
    return wrapper.fill(text)


def _paragraphs(text: str, width: int, indent: str) -> list[str]:
    """Each paragraph of ``text`` (split at blank lines, lines joined) wrapped."""
    return [_fill(" ".join(p.split("\n")), width, indent) for p in text.split("\n\n")]


def _definitions(rows: list[tuple[str, str]], width: int) -> list[str]:
    """Terms and their descriptions in two columns; a term wider than the first column
    puts its description on the next line."""
    first = min(max(len(term) for term, _ in rows), FIRST_COLUMN_MAX) + COLUMN_GAP
    text_width = max(width - first - 2, 10)
    lead = " " * INDENT
    out: list[str] = []
    for term, description in rows:
        lines = "\n\n".join(_paragraphs(description, text_width, "")).splitlines()
        if len(term) <= first - COLUMN_GAP:
            head = f"{lead}{term}{' ' * (first - len(term))}"
        else:
            out.append(f"{lead}{term}")
            head = " " * (first + INDENT)
        out.append(head + lines[0])
        out.extend(" " * (first + INDENT) + line for line in lines[1:])
    return out


def _option_rows() -> list[tuple[str, str]]:
    rows = [("--version", "Show the version and exit.")]
    for opt in GLOBAL_OPTIONS:
        decls = ", ".join(sorted(opt.decls, key=lambda d: len(d) - len(d.lstrip("-"))))
        if opt.choices:
            decls += f" [{'|'.join(opt.choices)}]"
        elif not opt.is_flag:
            decls += f" {opt.metavar}"
        rows.append((decls, opt.help))
    rows.append(("-h, --help", "Show this message and exit."))
    return rows


def root_help(width: int) -> str:
    """The text of ``ctrlplane --help`` laid out in ``width`` columns (see
    :func:`help_width`), ending in a newline."""
    lines = [_usage(width), ""]
    lines.append("\n\n".join(_paragraphs(ROOT_HELP, width, " " * INDENT)))
    lines += ["", "Options:", *_definitions(_option_rows(), width)]
    commands = [(name, COMMANDS[name].summary) for name in sorted(COMMANDS)]
    lines += ["", "Commands:", *_definitions(commands, width)]
    return "\n".join(lines) + "\n"


def _usage(width: int) -> str:
    wrapper = textwrap.TextWrapper(
        width,
        initial_indent=USAGE_PREFIX,
        subsequent_indent=" " * len(USAGE_PREFIX),
        replace_whitespace=False,
    )
    return wrapper.fill(USAGE_ARGS)
