"""The fake shell's parser: ``sh`` text to a syntax tree.

:func:`parse` turns a script into a :data:`Sequence` of :class:`Item` (and-or lists, each
in the foreground or in the background); words keep their ``$`` expansions unexpanded, as
:class:`Part` s, so a loop expands them afresh on every iteration. It raises
:class:`ShellSyntaxError` for text outside the subset :mod:`ctrlplane.testing.shell`
documents; the message is what busybox prints after ``sh: syntax error:``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "AndOr",
    "Command",
    "If",
    "Item",
    "Loop",
    "Op",
    "Part",
    "Pipeline",
    "Redirect",
    "Sequence",
    "ShellSyntaxError",
    "Simple",
    "Word",
    "parse",
]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=")
_SPECIAL = frozenset("?$!#@*-0123456789")
_UNSUPPORTED = frozenset({"for", "case", "esac", "select", "function", "{", "}", "[[", "]]"})
MAX_NESTING = 100
"""How deeply compound commands (and arithmetic) may nest."""
_IDLE_PROGRAMS = frozenset({"sleep", "wait", "true", ":"})
_RESERVED = frozenset({"then", "elif", "else", "fi", "do", "done"})


class ShellSyntaxError(Exception):
    """The text is not in the subset of ``sh`` the fake shell understands."""


@dataclass(frozen=True)
class Part:
    """A piece of a word: literal text, a ``$NAME`` reference, or ``$((EXPR))``."""

    kind: Literal["lit", "var", "arith"]
    text: str
    quoted: bool = False


@dataclass(frozen=True)
class Word:
    """One word of a command, its expansions still to do."""

    parts: tuple[Part, ...]

    @property
    def literal(self) -> str | None:
        """The text if the word is one unquoted literal (how keywords are written)."""
        if len(self.parts) == 1 and self.parts[0].kind == "lit" and not self.parts[0].quoted:
            return self.parts[0].text
        return None


@dataclass(frozen=True)
class Op:
    """An operator: ``;``, newline, ``&``, ``&&``, ``||``, or a redirection with its fd."""

    text: str
    fd: int | None = None


@dataclass(frozen=True)
class Redirect:
    """``[fd]>`` ``>>`` ``<`` or ``>&`` and the word after it."""

    fd: int
    op: str
    target: Word


@dataclass
class Simple:
    """A simple command: ``NAME=value`` prefixes, its words and redirections."""

    assigns: list[tuple[str, Word]] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class If:
    """``if C; then B; elif C; then B; else B; fi``: (condition, body) clauses."""

    clauses: list[tuple[Sequence, Sequence]]
    orelse: Sequence | None
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class Loop:
    """``while C; do B; done`` (or ``until`` when ``until`` is set)."""

    cond: Sequence
    body: Sequence
    until: bool
    redirects: list[Redirect] = field(default_factory=list)

    @property
    def idle(self) -> bool:
        """Whether the loop never ends and only sleeps, waits or does nothing: its test is
        ``true`` or ``:`` (``false`` for ``until``) and its body runs only ``sleep``,
        ``wait``, ``true`` and ``:`` (in the foreground or background)."""
        forever = {"false"} if self.until else {"true", ":"}
        if len(self.cond) != 1 or self.cond[0].background:
            return False
        test = self.cond[0].and_or
        if test.rest or test.first.negate or not _only(test, forever):
            return False
        return all(_only(item.and_or, _IDLE_PROGRAMS) for item in self.body)


Command = Simple | If | Loop


@dataclass
class Pipeline:
    """A command, its status inverted by a leading ``!`` (pipes are not supported)."""

    command: Command
    negate: bool = False


@dataclass
class AndOr:
    """Pipelines joined by ``&&`` and ``||``: ``rest`` holds (operator, pipeline) pairs."""

    first: Pipeline
    rest: list[tuple[str, Pipeline]] = field(default_factory=list)


@dataclass
class Item:
    """One entry of a list: an and-or list, run in the background if it ends in ``&``."""

    and_or: AndOr
    background: bool = False


Sequence = list[Item]
Token = Word | Op


def _only(and_or: AndOr, programs: set[str] | frozenset[str]) -> bool:
    """Whether ``and_or`` runs only ``programs``, with no assignments or redirections."""
    for pipeline in [and_or.first, *(p for _, p in and_or.rest)]:
        cmd = pipeline.command
        if not isinstance(cmd, Simple) or cmd.assigns or cmd.redirects or not cmd.words:
            return False
        name = cmd.words[0].literal
        if name is None or name.rsplit("/", 1)[-1] not in programs:
            return False
    return True


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.tokens: list[Token] = []
        self.parts: list[Part] | None = None

    def add(self, kind: Literal["lit", "var", "arith"], text: str, quoted: bool) -> None:
        parts = self.parts if self.parts is not None else []
        self.parts = parts
        if kind == "lit" and parts and parts[-1].kind == "lit" and parts[-1].quoted == quoted:
            parts[-1] = Part("lit", parts[-1].text + text, quoted)
        else:
            parts.append(Part(kind, text, quoted))

    def end_word(self) -> None:
        if self.parts is not None:
            self.tokens.append(Word(tuple(self.parts)))
        self.parts = None

    def run(self) -> list[Token]:
        text, n = self.text, len(self.text)
        while self.i < n:
            c = text[self.i]
            if c in " \t":
                self.end_word()
                self.i += 1
            elif c == "#" and self.parts is None:
                while self.i < n and text[self.i] != "\n":
                    self.i += 1
            elif c in ";\n&|":
                self.operator(c)
            elif c in "<>":
                self.redirection(c)
            elif c in "()":
                raise ShellSyntaxError(f'unexpected "{c}" (subshells are not supported)')
            elif c == "`":
                raise ShellSyntaxError("command substitution is not supported")
            elif c == "'":
                end = text.find("'", self.i + 1)
                if end < 0:
                    raise ShellSyntaxError("unterminated quoted string")
                self.add("lit", text[self.i + 1 : end], True)
                self.i = end + 1
            elif c == '"':
                self.double_quoted()
            elif c == "\\":
                nxt = text[self.i + 1 : self.i + 2]
                if nxt != "\n":
                    self.add("lit", nxt or "\\", bool(nxt))
                self.i += 2
            elif c == "$":
                self.dollar(quoted=False)
            else:
                self.add("lit", c, False)
                self.i += 1
        self.end_word()
        return self.tokens

    def operator(self, c: str) -> None:
        self.end_word()
        double = self.text.startswith(c * 2, self.i)
        if c == "|" and not double:
            raise ShellSyntaxError("pipes ('|') are not supported")
        if c == ";" and double:
            raise ShellSyntaxError('unexpected ";;"')
        op = c * 2 if double and c in "&|" else c
        self.tokens.append(Op(op))
        self.i += len(op)

    def redirection(self, c: str) -> None:
        fd: int | None = None
        last = self.parts[0] if self.parts is not None and len(self.parts) == 1 else None
        if last is not None and last.kind == "lit" and not last.quoted and last.text.isdigit():
            fd, self.parts = int(last.text), None
        self.end_word()
        pair = self.text[self.i : self.i + 2]
        if pair in ("<<", "<&"):
            raise ShellSyntaxError(f"{pair!r} is not supported")
        op = pair if pair in (">>", ">&") else c
        self.tokens.append(Op(op, fd if fd is not None else (0 if c == "<" else 1)))
        self.i += len(op)

    def double_quoted(self) -> None:
        text, n = self.text, len(self.text)
        self.add("lit", "", True)
        self.i += 1
        while self.i < n and text[self.i] != '"':
            c = text[self.i]
            if c == "\\" and self.i + 1 < n and text[self.i + 1] in '"\\$`\n':
                if text[self.i + 1] != "\n":
                    self.add("lit", text[self.i + 1], True)
                self.i += 2
            elif c == "$":
                self.dollar(quoted=True)
            elif c == "`":
                raise ShellSyntaxError("command substitution is not supported")
            else:
                self.add("lit", c, True)
                self.i += 1
        if self.i >= n:
            raise ShellSyntaxError("unterminated quoted string")
        self.i += 1

    def dollar(self, *, quoted: bool) -> None:
        text, i = self.text, self.i
        if text.startswith("$((", i):
            depth, j = 0, i + 3
            while j < len(text):
                if text[j] == "(":
                    depth += 1
                elif text[j] == ")":
                    if depth == 0:
                        if not text.startswith("))", j):
                            raise ShellSyntaxError("unterminated $((...))")
                        self.add("arith", text[i + 3 : j], quoted)
                        self.i = j + 2
                        return
                    depth -= 1
                j += 1
            raise ShellSyntaxError("unterminated $((...))")
        if text.startswith("$(", i):
            raise ShellSyntaxError("command substitution is not supported")
        if text.startswith("${", i):
            end = text.find("}", i + 2)
            name = text[i + 2 : end] if end >= 0 else ""
            if not (
                _NAME.fullmatch(name) or name.isdigit() or (len(name) == 1 and name in _SPECIAL)
            ):
                raise ShellSyntaxError("bad substitution")
            self.add("var", name, quoted)
            self.i = end + 1
            return
        match = _NAME.match(text, i + 1)
        if match:
            self.add("var", match.group(), quoted)
            self.i = match.end()
        elif i + 1 < len(text) and text[i + 1] in _SPECIAL:
            self.add("var", text[i + 1], quoted)
            self.i = i + 2
        else:
            self.add("lit", "$", quoted)
            self.i = i + 1


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def keyword(self) -> str | None:
        tok = self.peek()
        return tok.literal if isinstance(tok, Word) else None

    def unexpected(self, expecting: str | None = None) -> ShellSyntaxError:
        tok = self.peek()
        if tok is None:
            where = "end of file"
            return ShellSyntaxError(
                f'unexpected {where} (expecting "{expecting}")'
                if expecting
                else f"unexpected {where}"
            )
        shown = "newline" if isinstance(tok, Op) and tok.text == "\n" else None
        if shown is None:
            shown = tok.text if isinstance(tok, Op) else "".join(p.text for p in tok.parts)
            shown = f'"{shown}"'
        return ShellSyntaxError(f"unexpected {shown}")

    def expect(self, word: str) -> None:
        if self.keyword() != word:
            raise self.unexpected(word)
        self.pos += 1

    def skip_newlines(self) -> None:
        while isinstance(tok := self.peek(), Op) and tok.text == "\n":
            self.pos += 1

    def sequence(self, stops: frozenset[str]) -> Sequence:
        items: Sequence = []
        while True:
            while isinstance(tok := self.peek(), Op) and tok.text in (";", "\n"):
                self.pos += 1
            if self.peek() is None or self.keyword() in stops:
                return items
            item = Item(self.and_or())
            tok = self.peek()
            if isinstance(tok, Op) and tok.text in (";", "\n", "&"):
                item.background = tok.text == "&"
                self.pos += 1
            elif tok is not None and self.keyword() not in stops:
                raise self.unexpected()
            items.append(item)

    def body(self, stops: frozenset[str]) -> Sequence:
        items = self.sequence(stops)
        if not items:
            raise self.unexpected()
        return items

    def and_or(self) -> AndOr:
        result = AndOr(self.pipeline())
        while isinstance(tok := self.peek(), Op) and tok.text in ("&&", "||"):
            self.pos += 1
            self.skip_newlines()
            result.rest.append((tok.text, self.pipeline()))
        return result

    def pipeline(self) -> Pipeline:
        negate = False
        while self.keyword() == "!":
            negate = not negate
            self.pos += 1
        return Pipeline(self.command(), negate)

    def command(self) -> Command:
        word = self.keyword()
        compound: If | Loop
        if word in ("if", "while", "until"):
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise ShellSyntaxError("compound commands nested too deeply")
        if word == "if":
            compound = self.if_clause()
        elif word in ("while", "until"):
            self.pos += 1
            cond = self.body(frozenset({"do"}))
            self.expect("do")
            body = self.body(frozenset({"done"}))
            self.expect("done")
            compound = Loop(cond, body, until=word == "until")
        elif word in _UNSUPPORTED:
            raise ShellSyntaxError(f"{word!r} is not supported by the fake shell")
        elif word in _RESERVED:
            raise self.unexpected()
        else:
            return self.simple()
        while isinstance(tok := self.peek(), Op) and tok.fd is not None:
            compound.redirects.append(self.redirect(tok))
        self.depth -= 1
        return compound

    def if_clause(self) -> If:
        clauses: list[tuple[Sequence, Sequence]] = []
        orelse: Sequence | None = None
        word = "if"
        while word in ("if", "elif"):
            self.pos += 1
            cond = self.body(frozenset({"then"}))
            self.expect("then")
            clauses.append((cond, self.body(frozenset({"elif", "else", "fi"}))))
            word = self.keyword() or ""
        if word == "else":
            self.pos += 1
            orelse = self.body(frozenset({"fi"}))
        self.expect("fi")
        return If(clauses, orelse)

    def redirect(self, op: Op) -> Redirect:
        self.pos += 1
        target = self.peek()
        if not isinstance(target, Word):
            raise self.unexpected()
        self.pos += 1
        return Redirect(op.fd if op.fd is not None else 1, op.text, target)

    def simple(self) -> Simple:
        cmd = Simple()
        while (tok := self.peek()) is not None:
            if isinstance(tok, Op):
                if tok.fd is None:
                    break
                cmd.redirects.append(self.redirect(tok))
                continue
            first = tok.parts[0]
            match = _ASSIGNMENT.match(first.text) if first.kind == "lit" else None
            if not cmd.words and match and not first.quoted:
                value = (
                    [Part("lit", first.text[match.end() :])]
                    if match.end() < len(first.text)
                    else []
                )
                cmd.assigns.append((match.group(1), Word((*value, *tok.parts[1:]))))
            else:
                cmd.words.append(tok)
            self.pos += 1
        if not (cmd.words or cmd.assigns or cmd.redirects):
            raise self.unexpected()
        return cmd


def parse(script: str) -> Sequence:
    """The script's top-level list; :class:`ShellSyntaxError` if it is not understood."""
    parser = _Parser(_Lexer(script).run())
    items = parser.sequence(frozenset())
    if parser.peek() is not None:
        raise parser.unexpected()
    return items
