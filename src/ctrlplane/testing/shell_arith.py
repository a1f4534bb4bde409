"""``$((...))`` arithmetic of the fake shell (:mod:`ctrlplane.testing.shell`).

Busybox's rules: signed 64-bit integers that wrap, C division (truncating toward zero),
and the usual precedence. Errors raise
:class:`~ctrlplane.testing.shell_parse.ShellSyntaxError` with busybox's message
(``arithmetic syntax error``, ``divide by zero``); the shell then ends with status 2.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Literal

from ctrlplane.testing.shell_parse import MAX_NESTING, ShellSyntaxError

__all__ = ["arithmetic"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ARITH_TOKEN = re.compile(
    r"\s*(?:(0[xX][0-9a-fA-F]+|[0-9]+)|\$?([A-Za-z_][A-Za-z0-9_]*)|\$([?$!#0-9])"
    r"|(\*\*|<=|>=|==|!=|&&|\|\||[-+*/%<>!()]))"
)
_NUMBER = re.compile(r"-?(0[xX][0-9a-fA-F]+|[0-9]+)")
_PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, "<=": 4, ">": 4, ">=": 4}
_PRECEDENCE |= {"+": 5, "-": 5, "*": 6, "/": 6, "%": 6}
_ArithToken = tuple[Literal["num", "var", "op"], str]


def _number(text: str) -> int:
    if text.lower().startswith("0x"):
        return int(text, 16)
    if len(text) > 1 and text.startswith("0"):
        if not set(text) <= set("01234567"):
            raise ShellSyntaxError("arithmetic syntax error")
        return int(text, 8)
    return int(text)


def _wrap(value: int) -> int:
    """``value`` as a signed 64-bit integer, as busybox computes."""
    return (value + 2**63) % 2**64 - 2**63


def _apply(op: str, a: int, b: int) -> int:
    if op in ("/", "%"):
        if b == 0:
            raise ShellSyntaxError("divide by zero")
        q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)  # C truncates toward zero
        return _wrap(q if op == "/" else a - b * q)
    if op in ("+", "-", "*"):
        return _wrap(a + b if op == "+" else a - b if op == "-" else a * b)
    if op in ("&&", "||"):
        return int(bool(a) and bool(b)) if op == "&&" else int(bool(a) or bool(b))
    comparisons = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b}
    return int(comparisons.get(op, a != b))


@functools.lru_cache(maxsize=256)
def _arith_tokens(expr: str) -> tuple[_ArithToken, ...]:
    tokens: list[_ArithToken] = []
    pos, end = 0, len(expr.rstrip())
    while pos < end:
        match = _ARITH_TOKEN.match(expr, pos)
        if match is None:
            raise ShellSyntaxError("arithmetic syntax error")
        number, name, special, op = match.groups()
        if number is not None:
            tokens.append(("num", number))
        elif name is not None or special is not None:
            tokens.append(("var", name or special))
        else:
            tokens.append(("op", op))
        pos = match.end()
    return tuple(tokens)


def arithmetic(expr: str, lookup: Callable[[str], str]) -> int:
    """The value of ``expr``: signed 64-bit integers (decimal, ``0x`` hex, ``0`` octal),
    variables (``i`` or ``$i``; unset or empty is 0), ``+ - * / % **``, comparisons,
    ``! && ||`` and parentheses. Variables are looked up with ``lookup``."""
    tokens = _arith_tokens(expr)
    at = 0

    def peek() -> str | None:
        return tokens[at][1] if at < len(tokens) and tokens[at][0] == "op" else None

    def value(text: str, depth: int = 0) -> int:
        text = text.strip()
        if not text:
            return 0
        if _NAME.fullmatch(text) and depth < 8:
            return value(lookup(text), depth + 1)
        if not _NUMBER.fullmatch(text):
            raise ShellSyntaxError("arithmetic syntax error")
        return _wrap(-_number(text[1:]) if text.startswith("-") else _number(text))

    def unary(depth: int) -> int:
        nonlocal at
        if depth > MAX_NESTING:
            raise ShellSyntaxError("arithmetic expression nested too deeply")
        op = peek()
        if op in ("-", "+", "!"):
            at += 1
            operand = unary(depth + 1)
            return _wrap(-operand) if op == "-" else int(not operand) if op == "!" else operand
        if op == "(":
            at += 1
            result = binary(1, depth + 1)
            if peek() != ")":
                raise ShellSyntaxError("arithmetic syntax error")
            at += 1
            return result
        if at >= len(tokens) or tokens[at][0] == "op":
            raise ShellSyntaxError("arithmetic syntax error")
        kind, text = tokens[at]
        at += 1
        base = _wrap(_number(text)) if kind == "num" else value(lookup(text))
        if peek() == "**":
            at += 1
            exponent = unary(depth + 1)
            if exponent < 0:
                raise ShellSyntaxError("exponent less than 0")
            return _wrap(pow(base, exponent, 2**64))
        return base

    def binary(lowest: int, depth: int) -> int:
        nonlocal at
        left = unary(depth)
        while (op := peek()) is not None and _PRECEDENCE.get(op, 0) >= lowest:
            at += 1
            left = _apply(op, left, binary(_PRECEDENCE[op] + 1, depth))
        return left

    result = binary(1, 0)
    if at != len(tokens):
        raise ShellSyntaxError("arithmetic syntax error")
    return result
