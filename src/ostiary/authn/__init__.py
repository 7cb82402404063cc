"""Authentication of users: argon2id password hashing, the password policy, and accounts."""

from __future__ import annotations

from ostiary.authn.accounts import Accounts, check_role, normalize_username
from ostiary.authn.passwords import PasswordHasher, PasswordPolicy

__all__ = [
    "Accounts",
    "PasswordHasher",
    "PasswordPolicy",
    "check_role",
    "normalize_username",
]
