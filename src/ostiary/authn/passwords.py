"""Password hashing with argon2id (RFC 9106) and the password policy.

Defaults are OWASP's minimum for argon2id: 19 MiB of memory, 2 passes, 1 lane. Hashing runs on
worker threads the hasher owns (one per usable CPU), so that a login never blocks the event loop
for the tens of milliseconds it costs, and so that the server's memory stays flat (see
``_MALLOC_TRIM``).
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import os
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ostiary.errors import ConfigurationError, WeakPassword

#: OWASP Password Storage Cheat Sheet, argon2id minimum: m=19456 KiB, t=2, p=1.
OWASP_MEMORY_COST_KIB: Final = 19456
OWASP_TIME_COST: Final = 2
OWASP_PARALLELISM: Final = 1

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


def _load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on other C libraries (musl, macOS, Windows)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


#: Why one thread and an idle trim: an argon2id hash allocates its whole memory cost (19 MiB by
#: default) in one block and frees it at the end. glibc serves a block that size from the
#: calling thread's malloc arena (once the first freed mmap has raised the dynamic mmap
#: threshold) and keeps it there, so every thread that ever hashed held ~19 MiB: with
#: asyncio's default pool, up to six of them. Hashing on one thread bounds that to one block.
#: ``malloc_trim(0)`` can give that block back too, but only from glibc's main arena (it does
#: not shrink the top of a thread's arena, so this needs ``MALLOC_ARENA_MAX=1``), and the next
#: hash then faults its 19 MiB back in: ~25% slower, the same as forcing mmap for big blocks
#: (``M_MMAP_THRESHOLD``). So the trim runs on the worker only once no hash has been asked for
#: :data:`TRIM_AFTER_IDLE_SECONDS`: never between the hashes of a busy server. A call costs
#: ~0.04 ms when there is nothing to return.
_MALLOC_TRIM: Final = _load_malloc_trim()
#: How long the hasher waits without work before it trims (see _MALLOC_TRIM).
TRIM_AFTER_IDLE_SECONDS: Final = 1.0


def _usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def normalize_password(password: str) -> str:
    """NFC, so that the same password typed on two keyboards hashes the same (NIST SP 800-63B
    §5.1.1.2 asks for Unicode normalization before hashing)."""
    return unicodedata.normalize("NFC", password)


def _password_bytes(password: str) -> bytes:
    """What argon2 hashes: the NFC form in UTF-8, the same bytes argon2-cffi would make of the
    string. ``surrogatepass`` so that a lone surrogate (which the policy refuses in a new
    password, and the HTTP layer in any body) never makes a verify fail with an exception: it
    just does not match."""
    return normalize_password(password).encode("utf-8", "surrogatepass")


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
        trim_after_idle: float = TRIM_AFTER_IDLE_SECONDS,
        workers: int | None = None,
    ) -> None:
        """``workers``: hashing threads, by default one per CPU this process may run on. Each
        keeps one argon2 block (``memory_cost``) in its malloc arena while logins keep coming;
        more threads than CPUs would only add memory, fewer would leave CPUs idle."""
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
        except argon2.exceptions.HashingError as exc:
            raise ConfigurationError(f"unusable argon2 parameters: {exc}") from None
        # Threads of our own for every hash and verify (see _MALLOC_TRIM), not asyncio's
        # default pool, which would spread hashes over many threads and keep a block in each.
        self._executor = ThreadPoolExecutor(
            max_workers=workers if workers is not None else _usable_cpus(),
            thread_name_prefix="ostiary-argon2",
        )
        self._trim_after_idle = trim_after_idle
        self._running = 0  # hashes asked for and not finished
        self._trim_timer: asyncio.TimerHandle | None = None
        self._closed = False
        try:
            # Verified against when the user is unknown, so that the miss costs a real verify.
            self._dummy_hash = self._executor.submit(
                self._argon2.hash, "ostiary-dummy-password"
            ).result()
        except argon2.exceptions.HashingError as exc:
            self._executor.shutdown()
            raise ConfigurationError(f"unusable argon2 parameters: {exc}") from None
        self._trim()

    @property
    def parameters(self) -> argon2.Parameters:
        return argon2.extract_parameters(self._dummy_hash)

    async def hash(self, password: str) -> str:
        return await self._run(self._argon2.hash, _password_bytes(password))

    async def verify(self, stored_hash: str, password: str) -> bool:
        return await self._run(self._verify_sync, stored_hash, password)

    async def verify_dummy(self, password: str) -> None:
        """Spend what a real verify costs, for a user that does not exist (or a malformed
        username): the response time must not tell whether an account exists."""
        await self._run(self._verify_sync, self._dummy_hash, password)

    def close(self) -> None:
        """Stop the worker thread (waiting for a hash under way); idempotent. Hashing after
        this raises RuntimeError."""
        self._closed = True
        if self._trim_timer is not None:
            self._trim_timer.cancel()
            self._trim_timer = None
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def _run(self, fn: Callable[..., _T], *args: str | bytes) -> _T:
        loop = asyncio.get_running_loop()
        if self._trim_timer is not None:
            self._trim_timer.cancel()
            self._trim_timer = None
        self._running += 1
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        finally:
            self._running -= 1
            if self._running == 0 and _MALLOC_TRIM is not None and not self._closed:
                self._trim_timer = loop.call_later(self._trim_after_idle, self._trim_if_idle)

    def _trim_if_idle(self) -> None:
        self._trim_timer = None
        if self._running == 0 and not self._closed:
            self._trim()

    def _trim(self) -> None:
        """Queue a ``malloc_trim(0)`` on the worker: between hashes, never during one."""
        if _MALLOC_TRIM is not None:
            self._executor.submit(_MALLOC_TRIM, 0)

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when ``stored_hash`` was made with other parameters than the current ones."""
        try:
            return self._argon2.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    def _verify_sync(self, stored_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(stored_hash, _password_bytes(password))
        except VerifyMismatchError:
            return False
        except InvalidHashError:
            logger.warning("a stored password hash is not a valid argon2 hash")
            return False
        except VerificationError:
            return False


#: Unicode categories refused in a new password: controls and (lone) surrogates.
_NOT_IN_PASSWORDS: Final = frozenset({"Cc", "Cs"})


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """The rules a new password must meet (NIST SP 800-63B §5.1.1.2: a minimum length, no
    composition rules, a generous maximum). Any printable Unicode is welcome, spaces included;
    control characters (NUL, tab, newline...) and lone surrogates are refused: no keyboard
    types them into a password field, and a NUL truncates the password in C-string code."""

    #: Minimum length in characters (code points after NFC normalization).
    min_length: int = 12
    #: Maximum length in bytes of the UTF-8 encoding: bounds the work a request can cause.
    max_bytes: int = 1024

    def check(self, password: str) -> None:
        """Raise :class:`~ostiary.errors.WeakPassword` naming the rule that failed."""
        # Each character is at least one byte: refuse huge inputs before normalizing them.
        if len(password) > self.max_bytes:
            raise self._too_long()
        if any(unicodedata.category(c) in _NOT_IN_PASSWORDS for c in password):
            raise WeakPassword("The password must not contain control characters.")
        normalized = normalize_password(password)
        if len(normalized.encode("utf-8")) > self.max_bytes:
            raise self._too_long()
        if len(normalized) < self.min_length:
            raise WeakPassword(f"The password must be at least {self.min_length} characters long.")

    def _too_long(self) -> WeakPassword:
        return WeakPassword(f"The password must be at most {self.max_bytes} bytes long.")
