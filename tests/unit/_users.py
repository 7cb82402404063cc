"""The user record the unit tests of sessions, browsers and logout share: ``alice``, role
``user``, created (and her password set) at ``T0``, stored directly (no password hashing)."""

from __future__ import annotations

from typing import Final

from ostiary.storage.records import User

T0: Final = 1_700_000_000.0

ALICE: Final = User(
    id="usr_alice",
    username="alice",
    password_hash="-",
    roles=frozenset({"user"}),
    disabled=False,
    created_at=T0,
    password_changed_at=T0,
)
