"""Proof Key for Code Exchange (RFC 7636), S256 only: ``plain`` would send the secret the code
is bound to through the browser, and RFC 9700 §2.1.1 asks for S256."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

from ostiary.encoding import b64url

#: RFC 7636 §4.1: 43 to 128 unreserved characters. The S256 challenge is always 43.
_VERIFIER: Final = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_CHALLENGE: Final = re.compile(r"[A-Za-z0-9_-]{43}")


def is_challenge(value: str) -> bool:
    """True for a well-formed S256 challenge: the base64url SHA-256 of a verifier."""
    return bool(_CHALLENGE.fullmatch(value))


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return b64url(digest)


def verifies(verifier: str, challenge: str) -> bool:
    """RFC 7636 §4.6: ``BASE64URL(SHA256(verifier)) == challenge``, compared in constant time."""
    if not _VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(s256(verifier), challenge)
