"""Revocations a resource server knows of: by token (``jti``), by session (``sid``), and by
user with a "not before" time. Each entry expires when the tokens it covers would have. Shared
by the server's revocations (``ostiary.revocation.service``) and the resource toolkit
(``ostiary.resource``, which exports it), below both."""

from __future__ import annotations

import threading

from ostiary.access_claims import AccessClaims


class RevocationList:
    """In-memory revocations, checked after every verification (cache hits included)."""

    def __init__(self) -> None:
        self._jti: dict[str, float] = {}
        self._sid: dict[str, float] = {}
        self._sub_not_before: dict[str, float] = {}
        self._lock = threading.Lock()
        #: False while the list is empty: read on every verification, so a plain attribute.
        self.active = False

    def __bool__(self) -> bool:
        return self.active

    def revoke_token(self, jti: str, *, until: float) -> None:
        with self._lock:
            self._jti[jti] = max(until, self._jti.get(jti, 0.0))
            self.active = True

    def revoke_session(self, sid: str, *, until: float) -> None:
        with self._lock:
            self._sid[sid] = max(until, self._sid.get(sid, 0.0))
            self.active = True

    def revoke_subject(self, sub: str, *, not_before: float) -> None:
        """Tokens of ``sub`` issued before ``not_before`` are revoked."""
        with self._lock:
            self._sub_not_before[sub] = max(not_before, self._sub_not_before.get(sub, 0.0))
            self.active = True

    def is_revoked(self, claims: AccessClaims) -> bool:
        if claims.jti in self._jti:
            return True
        if claims.sid is not None and claims.sid in self._sid:
            return True
        not_before = self._sub_not_before.get(claims.sub)
        if not_before is None:
            return False
        iat = claims.raw.get("iat")
        return not isinstance(iat, int | float) or iat < not_before

    def purge(self, now: float, *, max_token_lifetime: float) -> None:
        """Forget entries whose tokens have all expired."""
        with self._lock:
            for table in (self._jti, self._sid):
                for key in [k for k, until in table.items() if until <= now]:
                    del table[key]
            horizon = now - max_token_lifetime
            for sub in [s for s, nb in self._sub_not_before.items() if nb <= horizon]:
                del self._sub_not_before[sub]
            self.active = bool(self._jti or self._sid or self._sub_not_before)
