"""The CLI reference (``docs/cli-reference.md``), generated from the click commands.

Run ``python -m ctrlplane.cli.reference > docs/cli-reference.md`` after changing a
command; ``python -m ctrlplane.cli.reference --check docs/cli-reference.md`` exits 1 when
the file is out of date (the test suite does the same). The output depends only on the
commands (never on the terminal width or the environment).
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import click

__all__ = ["reference_markdown"]

_HEADER = """\
# CLI reference

Generated from the commands by `python -m ctrlplane.cli.reference > docs/cli-reference.md`;
do not edit by hand. The guide is [cli.md](cli.md); a first session is in
[quickstart.md](quickstart.md).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _help_markdown(text: str) -> list[str]:
    """A docstring as markdown: ``\\b`` blocks and ``Example:`` lines become code."""
    out: list[str] = []
    for para in inspect.cleandoc(text).split("\n\n"):
        lines = para.splitlines()
        if lines and lines[0].strip() == "\b":
            out += ["```", *lines[1:], "```", ""]
        elif para.startswith("Example:"):
            out += ["Example:", "", "```", para.removeprefix("Example:").strip(), "```", ""]
        else:
            out += [" ".join(line.strip() for line in lines), ""]
    return out


def _section(command: click.Command, ctx: click.Context, level: str) -> list[str]:
    usage = " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])
    lines = [f"{level} `{ctx.command_path}`", "", "```", usage, "```", ""]
    lines += _help_markdown(command.help or "")
    options = [
        record
        for param in command.get_params(ctx)
        if isinstance(param, click.Option) and "--help" not in param.opts
        for record in [param.get_help_record(ctx)]
        if record is not None
    ]
    if options:
        lines += ["| option | description |", "| --- | --- |"]
        lines += [f"| `{_cell(name)}` | {_cell(desc)} |" for name, desc in options]
        lines.append("")
    return lines


def _exit_codes() -> list[str]:
    from ctrlplane.cli.main import EXIT_CODE_MEANINGS

    lines = ["## Exit codes", "", "| code | meaning |", "| --- | --- |"]
    lines += [f"| {code} | {_cell(meaning)} |" for code, meaning in EXIT_CODE_MEANINGS]
    lines += ["", "A command run by `exec` passes its own exit code through.", ""]
    return lines


def reference_markdown(root: click.Group | None = None) -> str:
    """The whole reference: the global options (accepted before or after any command),
    every command in name order (a group's sub-commands after it), then the exit
    codes."""
    if root is None:
        from ctrlplane.cli.main import cli

        root = cli
    top = click.Context(root, info_name="ctrlplane")
    lines = [_HEADER, *_section(root, top, "##")]
    for name in root.list_commands(top):
        command = root.get_command(top, name)
        if command is None or command.hidden:
            continue
        ctx = click.Context(command, info_name=name, parent=top)
        lines += _section(command, ctx, "##")
        if isinstance(command, click.Group):
            for sub_name in command.list_commands(ctx):
                sub = command.get_command(ctx, sub_name)
                if sub is not None and not sub.hidden:
                    sub_ctx = click.Context(sub, info_name=sub_name, parent=ctx)
                    lines += _section(sub, sub_ctx, "###")
    lines += _exit_codes()
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    """Print the reference, or with ``--check FILE`` compare it with FILE (1: differs)."""
    text = reference_markdown()
    if argv[:1] == ["--check"] and len(argv) == 2:
        path = Path(argv[1])
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != text:
            print(
                f"{path} is out of date; run: python -m ctrlplane.cli.reference > {path}",
                file=sys.stderr,
            )
            return 1
        return 0
    if argv:
        print("usage: python -m ctrlplane.cli.reference [--check FILE]", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
