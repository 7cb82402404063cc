"""Canonical base64url without padding (RFC 7515 §2, Appendix C).

Non-canonical encodings (stray bits in the last character) are refused, so one signature has
exactly one spelling.
"""

from __future__ import annotations

import binascii
from typing import Final

_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: The compact serialization's alphabet: base64url and the "." between segments.
COMPACT_ALPHABET: Final = _ALPHABET + b"."
_TO_STANDARD: Final = bytes.maketrans(b"-_", b"+/")
# Allowed last characters when 2 or 1 characters of padding are missing.
_CANONICAL_LAST: Final = {2: b"AQgw", 1: b"AEIMQUYcgkosw048"}


def b64url_decode(segment: bytes) -> bytes:
    """Decode one segment; ``ValueError`` for anything but canonical unpadded base64url."""
    if segment.translate(None, _ALPHABET):
        raise ValueError("characters outside the base64url alphabet")
    return decode_checked(segment)


def decode_checked(segment: bytes) -> bytes:
    """:func:`b64url_decode` for a segment already known to hold only base64url characters."""
    pad = -len(segment) % 4
    if pad == 3:
        raise ValueError("impossible base64url length")
    if pad and segment[-1] not in _CANONICAL_LAST[pad]:
        raise ValueError("non-canonical base64url")
    return binascii.a2b_base64(segment.translate(_TO_STANDARD) + b"=" * pad, strict_mode=True)
