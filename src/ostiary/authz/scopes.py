"""Scope strings (RFC 6749 §3.3) and the matching of required scopes or roles."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Final

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN: Final = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")


def parse_scope(value: str) -> frozenset[str]:
    """Split a space-delimited scope string; ``ValueError`` if a token has a forbidden
    character. Empty strings and repeated spaces give no empty tokens."""
    tokens = value.split(" ")
    out = frozenset(t for t in tokens if t)
    for token in out:
        if not _SCOPE_TOKEN.fullmatch(token):
            raise ValueError("scope tokens are printable ASCII without spaces, quotes or '\\'")
    return out


def format_scope(scopes: Iterable[str]) -> str:
    """The canonical scope string: sorted, de-duplicated, one space apart."""
    return " ".join(sorted(set(scopes)))


def missing(required: Collection[str], granted: Collection[str]) -> list[str]:
    """The required scopes (or roles) that were not granted, in the order they were asked."""
    return [item for item in required if item not in granted]
