"""User accounts: registration, login, roles, passwords.

Usernames (or emails) are compared in one normalized form; a user is known to the rest of the
system only by an opaque id, which becomes the access token's ``sub``.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Final

import precis_i18n

from ostiary.authn.passwords import PasswordHasher, PasswordPolicy
from ostiary.authz.scopes import parse_scope
from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.errors import (
    AccountExists,
    InvalidCredentials,
    InvalidRequest,
    InvalidUsername,
    NotFound,
    RegistrationDisabled,
)
from ostiary.storage.protocols import Conflict, UserStore
from ostiary.storage.records import USER_ID_PREFIX, User

MAX_USERNAME_LENGTH: Final = 254  # the longest email address (RFC 5321 §4.5.3.1.3)
MAX_ROLE_LENGTH: Final = 64
DEFAULT_ROLES: Final = ("user",)
DEFAULT_PASSWORD_POLICY: Final = PasswordPolicy()
#: Unicode categories refused in a username: controls, format characters (zero-width, bidi
#: overrides), surrogates, private use, unassigned, and line or paragraph separators.
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def normalize_username(value: str) -> str:
    """The one form a username is stored and looked up in: NFKC, case-folded, trimmed
    (NFKC again after case folding, as Unicode's caseless identifier matching does).
    Raises :class:`~ostiary.errors.InvalidUsername`."""
    if len(value) > 4 * MAX_USERNAME_LENGTH:  # bound the work before normalizing
        raise InvalidUsername(f"The username must be at most {MAX_USERNAME_LENGTH} characters.")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    username = folded.strip()
    if not 1 <= len(username) <= MAX_USERNAME_LENGTH:
        raise InvalidUsername(f"The username must be 1 to {MAX_USERNAME_LENGTH} characters.")
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in username):
        raise InvalidUsername("The username must not contain control or invisible characters.")
    return username


#: RFC 8265 §3.3: the profile for usernames compared case-insensitively.
_PRECIS_USERNAME: Final = precis_i18n.get_profile("UsernameCaseMapped")
#: Scripts that write one language together (UTS #39 §5.1, "Highly Restrictive").
_SCRIPT_SETS: Final = (
    frozenset({"HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"HAN", "HANGUL"}),
    frozenset({"HAN", "BOPOMOFO"}),
)
#: Scripts whose accented letters NFC composes: a combining mark left over is a disguise.
_COMPOSED_SCRIPTS: Final = frozenset({"LATIN", "GREEK", "CYRILLIC"})
#: Latin letters that exist to look like others: dotless i and j, and the IPA and phonetic
#: blocks (UTS #39 marks these "Technical": not for identifiers).
_LOOK_ALIKE_LATIN: Final = re.compile("[\u0131\u0237\u0250-\u02af\u1d00-\u1dbf]")


def check_new_username(value: str) -> str:
    """The stored form of a username being chosen (registration, the operator's create), or
    :class:`~ostiary.errors.InvalidUsername`. On top of :func:`normalize_username`: RFC 8265's
    UsernameCaseMapped profile (no spaces, controls, symbols or compatibility forms) and
    UTS #39's single-script restriction, so that no name can be made to look like another
    (``admin`` spelt with a Cyrillic a, a dotless i, a combining dot). Only new names: an
    existing user logs in under :func:`normalize_username` alone."""
    stored = normalize_username(value)
    try:
        _PRECIS_USERNAME.enforce(value.strip())
    except ValueError:  # precis_i18n raises UnicodeEncodeError, naming the code point
        raise InvalidUsername(
            "The username may hold letters, digits and punctuation, but no spaces, symbols "
            "or compatibility characters (RFC 8265)."
        ) from None
    scripts = {_script(c) for c in stored if unicodedata.category(c).startswith("L")}
    if len(scripts) > 1 and not any(scripts <= allowed for allowed in _SCRIPT_SETS):
        raise InvalidUsername("The username must not mix letters of different scripts.")
    if scripts <= _COMPOSED_SCRIPTS and (
        _LOOK_ALIKE_LATIN.search(stored)
        or any(unicodedata.category(c) in ("Mn", "Me") for c in stored)
    ):
        raise InvalidUsername("The username holds a letter that imitates another.")
    return stored


def _script(letter: str) -> str:
    """The script of a letter, from its Unicode name (``LATIN SMALL LETTER A``)."""
    word = unicodedata.name(letter, "UNKNOWN").split(" ", 1)[0]
    return {"CJK": "HAN", "KATAKANA-HIRAGANA": "KATAKANA"}.get(word, word)


def check_role(name: str) -> str:
    """A role name follows the scope-token grammar (RFC 6749 §3.3): printable ASCII without
    spaces, quotes or backslashes, so that it can travel in the ``roles`` claim and in a
    ``--role`` option unquoted."""
    try:
        valid = parse_scope(name) == {name} and len(name) <= MAX_ROLE_LENGTH
    except ValueError:
        valid = False
    if not valid:
        raise InvalidRequest(
            f"A role name is 1 to {MAX_ROLE_LENGTH} printable ASCII characters without spaces, "
            "quotes or backslashes."
        )
    return name


def new_user_id() -> str:
    return USER_ID_PREFIX + secrets.token_urlsafe(16)


class Accounts:
    """Every operation on users, over a :class:`~ostiary.storage.protocols.UserStore`."""

    def __init__(
        self,
        users: UserStore,
        hasher: PasswordHasher,
        *,
        policy: PasswordPolicy = DEFAULT_PASSWORD_POLICY,
        clock: Clock = SYSTEM_CLOCK,
        registration_enabled: bool = True,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._policy = policy
        self._clock = clock
        self.registration_enabled = registration_enabled

    # --- creating and logging in -----------------------------------------------------------

    async def register(
        self, username: str, password: str, *, roles: Iterable[str] = DEFAULT_ROLES
    ) -> User:
        """Self-service sign-up; refused with 403 when registration is switched off."""
        if not self.registration_enabled:
            raise RegistrationDisabled()
        return await self.create(username, password, roles=roles)

    async def create(
        self, username: str, password: str, *, roles: Iterable[str] = DEFAULT_ROLES
    ) -> User:
        """Create a user whether or not registration is open (the operator's path)."""
        normalized = check_new_username(username)
        role_set = frozenset(check_role(r) for r in roles)
        self._policy.check(password)
        if await self._users.get_by_username(normalized) is not None:
            raise AccountExists()
        now = self._clock.now()
        user = User(
            id=new_user_id(),
            username=normalized,
            password_hash=await self._hasher.hash(password),
            roles=role_set,
            disabled=False,
            created_at=now,
            password_changed_at=now,
        )
        try:
            await self._users.create(user)
        except Conflict:
            raise AccountExists() from None
        return user

    async def authenticate(self, username: str, password: str) -> User:
        """The user whose password this is. An unknown user, a wrong password and a disabled
        account raise the same :class:`~ostiary.errors.InvalidCredentials` after the same
        argon2 work, so neither the answer nor its timing tells whether an account exists."""
        try:
            user = await self._users.get_by_username(normalize_username(username))
        except InvalidUsername:
            await self._hasher.verify_dummy(password)
            raise InvalidCredentials(detail="malformed username") from None
        if user is None:
            await self._hasher.verify_dummy(password)
            raise InvalidCredentials(detail="unknown user")
        if not await self._hasher.verify(user.password_hash, password):
            raise InvalidCredentials(detail=f"wrong password for {user.id}")
        if user.disabled:
            raise InvalidCredentials(detail=f"{user.id} is disabled")
        if self._hasher.needs_rehash(user.password_hash):
            user = await self._rehash(user, password)
        return user

    async def _rehash(self, user: User, password: str) -> User:
        # Same password, new parameters: password_changed_at stays, so no token is refused.
        rehashed = replace(user, password_hash=await self._hasher.hash(password))
        await self._users.update(rehashed)
        return rehashed

    # --- reading ---------------------------------------------------------------------------

    async def get(self, user_id: str) -> User:
        user = await self._users.get(user_id)
        if user is None:
            raise NotFound("No such user.")
        return user

    async def get_by_username(self, username: str) -> User:
        user = await self._users.get_by_username(normalize_username(username))
        if user is None:
            raise NotFound("No such user.")
        return user

    async def list(self, *, offset: int = 0, limit: int = 100) -> Sequence[User]:
        return await self._users.list(offset=offset, limit=limit)

    # --- changing --------------------------------------------------------------------------

    async def add_role(self, user_id: str, role: str) -> User:
        user = await self.get(user_id)
        return await self._save(replace(user, roles=user.roles | {check_role(role)}))

    async def remove_role(self, user_id: str, role: str) -> User:
        user = await self.get(user_id)
        return await self._save(replace(user, roles=user.roles - {role}))

    async def disable(self, user_id: str) -> User:
        """Refuse further logins. The caller revokes the user's sessions and access tokens."""
        return await self._save(replace(await self.get(user_id), disabled=True))

    async def enable(self, user_id: str) -> User:
        return await self._save(replace(await self.get(user_id), disabled=False))

    async def set_password(self, user_id: str, new_password: str) -> User:
        """Set a password without knowing the old one (the operator's path). Sets
        ``password_changed_at``; the caller revokes sessions as it sees fit."""
        self._policy.check(new_password)
        user = await self.get(user_id)
        return await self._save(
            replace(
                user,
                password_hash=await self._hasher.hash(new_password),
                password_changed_at=self._clock.now(),
            )
        )

    async def change_password(self, user_id: str, current: str, new_password: str) -> User:
        """The user's own change: the current password must be right."""
        self._policy.check(new_password)
        user = await self.get(user_id)
        if not await self._hasher.verify(user.password_hash, current):
            raise InvalidCredentials(detail=f"wrong current password for {user.id}")
        return await self.set_password(user_id, new_password)

    async def _save(self, user: User) -> User:
        await self._users.update(user)
        return user
