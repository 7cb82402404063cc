"""Password hashing with argon2id (RFC 9106) and the password policy.

Defaults are OWASP's minimum for argon2id: 19 MiB of memory, 2 passes, 1 lane. Hashing runs in a
worker thread so that a login never blocks the event loop for the tens of milliseconds it costs.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from dataclasses import dataclass
from typing import Final

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ostiary.errors import ConfigurationError, WeakPassword

#: OWASP Password Storage Cheat Sheet, argon2id minimum: m=19456 KiB, t=2, p=1.
OWASP_MEMORY_COST_KIB: Final = 19456
OWASP_TIME_COST: Final = 2
OWASP_PARALLELISM: Final = 1

logger = logging.getLogger(__name__)


def normalize_password(password: str) -> str:
    """NFC, so that the same password typed on two keyboards hashes the same (NIST SP 800-63B
    §5.1.1.2 asks for Unicode normalization before hashing)."""
    return unicodedata.normalize("NFC", password)


class PasswordHasher:
    """argon2id hashing whose parameters are injectable; stored hashes name their own
    parameters, so a change of parameters is picked up by :meth:`needs_rehash`."""

    def __init__(
        self,
        *,
        memory_cost: int = OWASP_MEMORY_COST_KIB,
        time_cost: int = OWASP_TIME_COST,
        parallelism: int = OWASP_PARALLELISM,
        hash_len: int = 32,
        salt_len: int = 16,
    ) -> None:
        if hash_len < 16 or salt_len < 16:
            raise ConfigurationError("argon2 hash and salt must be at least 16 bytes")
        try:
            self._argon2 = argon2.PasswordHasher(
                time_cost=time_cost,
                memory_cost=memory_cost,
                parallelism=parallelism,
                hash_len=hash_len,
                salt_len=salt_len,
                type=argon2.Type.ID,
            )
            # Verified against when the user is unknown, so that the miss costs a real verify.
            self._dummy_hash = self._argon2.hash("ostiary-dummy-password")
        except argon2.exceptions.HashingError as exc:
            raise ConfigurationError(f"unusable argon2 parameters: {exc}") from None

    @property
    def parameters(self) -> argon2.Parameters:
        return argon2.extract_parameters(self._dummy_hash)

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._argon2.hash, normalize_password(password))

    async def verify(self, stored_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify_sync, stored_hash, password)

    async def verify_dummy(self, password: str) -> None:
        """Spend what a real verify costs, for a user that does not exist (or a malformed
        username): the response time must not tell whether an account exists."""
        await asyncio.to_thread(self._verify_sync, self._dummy_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when ``stored_hash`` was made with other parameters than the current ones."""
        try:
            return self._argon2.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    def _verify_sync(self, stored_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(stored_hash, normalize_password(password))
        except VerifyMismatchError:
            return False
        except InvalidHashError:
            logger.warning("a stored password hash is not a valid argon2 hash")
            return False
        except VerificationError:
            return False


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """The rules a new password must meet (NIST SP 800-63B §5.1.1.2: a minimum length, no
    composition rules, a generous maximum)."""

    #: Minimum length in characters (code points after NFC normalization).
    min_length: int = 12
    #: Maximum length in bytes of the UTF-8 encoding: bounds the work a request can cause.
    max_bytes: int = 1024

    def check(self, password: str) -> None:
        """Raise :class:`~ostiary.errors.WeakPassword` naming the rule that failed."""
        # Each character is at least one byte: refuse huge inputs before normalizing them.
        if len(password) > self.max_bytes:
            raise self._too_long()
        normalized = normalize_password(password)
        if len(normalized.encode("utf-8")) > self.max_bytes:
            raise self._too_long()
        if len(normalized) < self.min_length:
            raise WeakPassword(f"The password must be at least {self.min_length} characters long.")

    def _too_long(self) -> WeakPassword:
        return WeakPassword(f"The password must be at most {self.max_bytes} bytes long.")
