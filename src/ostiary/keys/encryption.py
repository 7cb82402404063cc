"""Private keys encrypted at rest under a master key (AES-256-GCM from ``cryptography``).

The sealed form is a small JSON envelope; the key's ``kid`` is bound as associated data, so a
sealed key cannot be swapped into another key's row unnoticed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ostiary.encoding import b64url
from ostiary.errors import ConfigurationError, InvalidKey
from ostiary.jose import JWK

_VERSION: Final = 1
_NONCE_BYTES: Final = 12
MASTER_KEY_BYTES: Final = 32


class MasterKey:
    """A 256-bit key-encryption key. Its text form is unpadded base64url."""

    __slots__ = ("_aead", "_id")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != MASTER_KEY_BYTES:
            raise ConfigurationError(f"the master key must be exactly {MASTER_KEY_BYTES} bytes")
        if len(set(raw)) < 8:
            raise ConfigurationError("the master key has too little entropy")
        self._aead = AESGCM(raw)
        # A short public id tells which master key sealed a blob, without revealing it.
        self._id = _b64(hashlib.sha256(b"ostiary-master-key-id" + raw).digest()[:6])

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(MASTER_KEY_BYTES))

    @classmethod
    def from_text(cls, text: str) -> MasterKey:
        value = text.strip()
        try:
            # validate: refuse stray characters instead of silently dropping them
            raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
        except ValueError as exc:
            raise ConfigurationError("the master key is not base64url text") from exc
        return cls(raw)

    @staticmethod
    def new_text() -> str:
        """A fresh master key in its text form, for ``OSTIARY_MASTER_KEY``."""
        return b64url(os.urandom(MASTER_KEY_BYTES))

    @property
    def key_id(self) -> str:
        return self._id

    def __repr__(self) -> str:
        return f"MasterKey(id={self.key_id!r})"

    # --- sealing ---------------------------------------------------------------------------

    def seal(self, plaintext: bytes, *, context: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        ciphertext = self._aead.encrypt(nonce, plaintext, _aad(context))
        envelope = {
            "v": _VERSION,
            "enc": "A256GCM",
            "mk": self.key_id,
            "iv": _b64(nonce),
            "ct": _b64(ciphertext),
        }
        return json.dumps(envelope, separators=(",", ":")).encode()

    def open(self, sealed: bytes, *, context: str) -> bytes:
        try:
            envelope: dict[str, Any] = json.loads(sealed)
            if envelope.get("v") != _VERSION or envelope.get("enc") != "A256GCM":
                raise InvalidKey("unknown sealed-key format")
            nonce = _unb64(envelope["iv"])
            ciphertext = _unb64(envelope["ct"])
            if len(nonce) != _NONCE_BYTES:  # AESGCM would raise a bare ValueError
                raise InvalidKey("the sealed key is malformed")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidKey("the sealed key is malformed") from exc
        try:
            return self._aead.decrypt(nonce, ciphertext, _aad(context))
        except InvalidTag:
            raise InvalidKey(
                "cannot decrypt the key: wrong master key, or the data was altered",
                detail=f"sealed under master key {envelope.get('mk')!r}, have {self.key_id!r}",
            ) from None

    def seal_key(self, key: JWK) -> bytes:
        """The private JWK of ``key``, encrypted and bound to its ``kid``."""
        plaintext = json.dumps(key.private_dict(), separators=(",", ":")).encode()
        return self.seal(plaintext, context=key.kid)

    def open_key(self, sealed: bytes, *, kid: str) -> JWK:
        data = json.loads(self.open(sealed, context=kid))
        key = JWK.from_dict(data)
        if key.kid != kid:
            raise InvalidKey("the sealed key's kid does not match")
        return key


def _aad(context: str) -> bytes:
    return b"ostiary-key-v1:" + context.encode()


def _b64(data: bytes) -> str:
    return b64url(data)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
