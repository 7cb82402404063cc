"""Reading a compact JWS without verifying it, for people who want to see what a token says.

Nothing here checks a signature, an algorithm or a claim: the result is untrusted data. It is
separate from :func:`~ostiary.jose.jws.parse_compact`, which refuses disallowed algorithms and
headers, because inspection must show any token, a malicious one included.
"""

from __future__ import annotations

from typing import Any, Final

from ostiary.errors import MalformedToken, TokenTooLarge
from ostiary.jose._b64 import b64url_decode
from ostiary.jose._json import strict_loads

#: Larger than any token a verifier accepts, so that an oversized token can still be inspected.
INSPECT_MAX_SIZE: Final = 256 * 1024


def inspect_compact(
    token: str | bytes, *, max_size: int = INSPECT_MAX_SIZE
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The UNVERIFIED ``(header, claims)`` of a compact JWS; :class:`MalformedToken` if it is
    not one (or its payload is not a JSON object)."""
    if len(token) > max_size:
        raise TokenTooLarge(detail=f"{len(token)} characters, limit {max_size}")
    raw = _ascii(token)
    segments = raw.split(b".")
    if len(segments) != 3:
        if len(segments) == 5:
            raise MalformedToken(detail="a JWE: its payload is encrypted and cannot be shown")
        raise MalformedToken(detail=f"{len(segments)} segments, a compact JWS has three")
    return _json_object(segments[0], "header"), _json_object(segments[1], "payload")


def _ascii(token: str | bytes) -> bytes:
    if isinstance(token, bytes):
        return token
    try:
        return token.encode("ascii")
    except UnicodeEncodeError:
        raise MalformedToken(detail="non-ASCII characters") from None


def _json_object(segment: bytes, name: str) -> dict[str, Any]:
    try:
        decoded = b64url_decode(segment)
    except ValueError as exc:
        raise MalformedToken(detail=f"the {name} is not base64url: {exc}") from None
    try:
        value = strict_loads(decoded)
    except MalformedToken as exc:  # say which part; keep the class (DuplicateMember, ...)
        raise type(exc)(detail=f"the {name}: {exc.detail}") from None
    if not isinstance(value, dict):
        raise MalformedToken(detail=f"the {name} is not a JSON object")
    return value
