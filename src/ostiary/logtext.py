"""Text safe to put in a log line, for every part of Ostiary that logs request data: the
server's error paths and access log, and the resource toolkit's middleware. Imports nothing,
so the base install (``ostiary.resource``) has it too."""

from __future__ import annotations

import re
from typing import Final

#: C0 and C1 controls (newlines, escape sequences, NUL, DEL), line and paragraph separators,
#: bidi overrides and isolates (which reorder what a reader sees), and lone surrogates.
_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_SHORT_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """``text`` safe to put in a log line: each control or line-breaking character becomes a
    visible escape (``\\n``, ``\\x1b``, ``\\u2028``), so that request data can neither end
    the line nor fake another one. Everything else, non-ASCII letters included, stays."""
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
