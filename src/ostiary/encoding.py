"""The encodings every layer writes: unpadded base64url (RFC 7515 §2, RFC 7636 §4.2) and the
SHA-256 hex digest under which high-entropy secrets (refresh tokens, client secrets,
authorization codes) are stored. One definition each, below every package."""

from __future__ import annotations

import binascii
import hashlib
from typing import Final

_FROM_STANDARD: Final = bytes.maketrans(b"+/", b"-_")


def b64url_bytes(data: bytes) -> bytes:
    """``data`` as unpadded base64url, in ASCII bytes."""
    return binascii.b2a_base64(data, newline=False).translate(_FROM_STANDARD).rstrip(b"=")


def b64url(data: bytes) -> str:
    """``data`` as unpadded base64url text."""
    return b64url_bytes(data).decode("ascii")


def sha256_hex(text: str) -> str:
    """The hex SHA-256 of ``text`` (UTF-8): how a high-entropy secret is stored. A slow hash
    is not needed for 256 random bits; passwords use argon2id instead."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
