"""The OData ``$filter`` subset an emulator understands: ``column eq value`` and ``column in
(value, ...)``, joined by ``and`` / ``or`` (``and`` binds tighter), in parentheses.

A row is a mapping of column names (lower-cased) to values; a list value is a column holding
several (``eq`` and ``in`` then test whether any of them matches). Column names and keywords
are matched regardless of case, strings too (as a case-insensitive database collation does).
Anything else is a :class:`FilterError`, for the emulator to answer 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final

__all__ = ["FilterError", "Predicate", "parse_filter"]

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]

_TOKENS: Final = re.compile(
    r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<comma>,)|(?P<text>'(?:[^']|'')*')"
    r"|(?P<number>-?[0-9]+)(?![A-Za-z_])|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
_LITERALS: Final = {"true": True, "false": False, "null": None}


class FilterError(ValueError):
    """A ``$filter`` outside the subset, or naming a column the listing does not have."""


def parse_filter(text: str, columns: Collection[str]) -> Predicate:
    """The predicate ``text`` describes over rows with ``columns`` (lower-cased names)."""
    parser = _Parser(_tokenize(text), frozenset(columns))
    predicate = parser.expression()
    extra = parser.peek()
    if extra is not None:
        raise FilterError(f"unexpected {extra[1]!r} in $filter")
    return predicate


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].isspace():
            break
        match = _TOKENS.match(text, position)
        if match is None or match.end() == position:
            raise FilterError(f"cannot read $filter from {text[position:]!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _matches(held: Any, wanted: Any) -> bool:
    if isinstance(held, list):
        return any(_matches(item, wanted) for item in held)
    if isinstance(held, str) and isinstance(wanted, str):
        return held.casefold() == wanted.casefold()
    if isinstance(held, bool) or isinstance(wanted, bool):
        return held is wanted
    return bool(held == wanted)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], columns: frozenset[str]) -> None:
        self.tokens = tokens
        self.columns = columns
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, kind: str | None = None, word: str | None = None) -> str:
        token = self.peek()
        if token is None:
            raise FilterError("$filter ends too early")
        if (kind is not None and token[0] != kind) or (
            word is not None and token[1].lower() != word
        ):
            raise FilterError(f"expected {word or kind} in $filter, not {token[1]!r}")
        self.position += 1
        return token[1]

    def at_word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "word" and token[1].lower() == word

    def expression(self) -> Predicate:
        terms = [self.conjunction()]
        while self.at_word("or"):
            self.take()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else lambda row: any(t(row) for t in terms)

    def conjunction(self) -> Predicate:
        factors = [self.comparison()]
        while self.at_word("and"):
            self.take()
            factors.append(self.comparison())
        return factors[0] if len(factors) == 1 else lambda row: all(f(row) for f in factors)

    def comparison(self) -> Predicate:
        token = self.peek()
        if token is not None and token[0] == "open":
            self.take()
            inner = self.expression()
            self.take("close")
            return inner
        column = self.take("word").lower()
        if column not in self.columns:
            raise FilterError(f"unknown column {column!r} in $filter")
        operator = self.take("word").lower()
        if operator == "eq":
            value = self.literal()
            return lambda row: _matches(row.get(column), value)
        if operator == "in":
            self.take("open")
            values = [self.literal()]
            while self.peek() is not None and self.peek() == ("comma", ","):
                self.take()
                values.append(self.literal())
            self.take("close")
            return lambda row: any(_matches(row.get(column), v) for v in values)
        raise FilterError(f"operator {operator!r} is not supported in $filter (eq, in)")

    def literal(self) -> Any:
        token = self.peek()
        if token is None:
            raise FilterError("$filter ends where a value should be")
        kind, text = token
        self.take()
        if kind == "number":
            return int(text)
        if kind == "text":
            return text[1:-1].replace("''", "'")
        if kind == "word" and text.lower() in _LITERALS:
            return _LITERALS[text.lower()]
        raise FilterError(f"{text!r} is not a value in $filter")
