"""The host names that mean this machine, as ``urlsplit(url).hostname`` spells them (lower
case, IPv6 without brackets): where plain HTTP is allowed in development (cookies without
``Secure``, a JWKS or token endpoint over ``http``) and where a native app may redirect
(RFC 8252 §7.3). One set for the server and the resource toolkit alike."""

from __future__ import annotations

from typing import Final

LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})
