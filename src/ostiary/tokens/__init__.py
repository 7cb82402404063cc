"""Tokens the server issues: JWT access tokens, rotating refresh-token families.

Revoking them lives in :mod:`ostiary.revocation`."""

from __future__ import annotations

from ostiary.tokens.access import AccessTokenIssuer, IssuedToken
from ostiary.tokens.refresh import IssuedRefresh, RefreshTokens, hash_refresh_token

__all__ = [
    "AccessTokenIssuer",
    "IssuedRefresh",
    "IssuedToken",
    "RefreshTokens",
    "hash_refresh_token",
]
