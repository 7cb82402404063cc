"""Strict JSON for JOSE headers and claims.

RFC 7515 §5.2 and RFC 7519 §7.2 let a verifier reject a header or claims set with duplicate
member names, and RFC 8725 §3.6 warns that parsers which keep the last duplicate disagree with
those that keep the first. We reject them outright.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ostiary.errors import DuplicateMember, MalformedToken

# Depth beyond which a claims set is refused; real tokens nest two or three levels.
MAX_DEPTH = 32


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        names = [name for name, _ in pairs]
        dup = next(n for n in names if names.count(n) > 1)
        raise DuplicateMember(detail=f"duplicate member {dup!r}")
    return obj


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259 §6); Python's parser accepts them by default.
    raise MalformedToken(detail=f"non-standard JSON number {name}")


# A \uD800-\uDFFF escape; paired ones decode to one character, lone ones do not encode.
_MAYBE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
# The decoder's scanner, called directly: ``JSONDecoder.decode`` adds two regular-expression
# matches for surrounding whitespace, which a JOSE header or claims set (compact JSON) never
# has. Any text the scanner does not consume whole goes through ``decode`` for its verdict.
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def strict_loads(data: bytes | str) -> Any:
    """Parse JSON, refusing duplicate member names, NaN/Infinity, lone surrogates (RFC 8259
    §8.2: not valid Unicode, and a crash waiting in whatever logs or stores the claim later)
    and excessive nesting."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        try:
            value, end = _SCAN(text, 0)
        except StopIteration:  # no value at 0 (leading whitespace, empty text): decode decides
            end = -1
        if end != len(text):
            value = _DECODER.decode(text)
    except RecursionError as exc:
        raise MalformedToken(detail="JSON nested too deeply") from exc
    except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise MalformedToken(detail=f"invalid JSON: {exc}") from exc
    if "\\" in text and _MAYBE_SURROGATE.search(text):  # an escape needs a backslash
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedToken(detail="a string holds a lone UTF-16 surrogate") from None
    # Counting brackets is cheap and rules out deep nesting for almost every real token.
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise MalformedToken(detail="JSON nested too deeply")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, iteratively (no recursion on hostile input)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item if isinstance(v, dict | list))
    return deepest
