"""Binding what the server issues to the key of a DPoP proof (RFC 9449), at the endpoints that
issue tokens: ``POST /oauth/token`` and the first-party ``/auth/login`` and ``/auth/refresh``.

- §5: a token request with a valid proof gets an access token bound to the proof's key
  (``cnf.jkt``, §6.1) and ``token_type: DPoP``; without a proof, a Bearer token, unless the
  client registered ``dpop_bound_access_tokens`` (§5.2), which refuses the request.
- §5: a public client's refresh tokens (and a first-party session) are bound to the key of the
  proof sent when they were issued; each refresh needs a proof signed by that key. A
  confidential client's are not (it authenticates anyway), but the access token a refresh
  issues is bound to the key of the proof sent with it.
- §10: an authorization code asked for with ``dpop_jkt`` is redeemed only with a proof signed
  by that key.

The proof itself is checked by :class:`~ostiary.dpop.DPoPChecker` (§4.3, the ``jti`` replay
cache of §11.1 and the server nonces of §8). Nothing here knows of HTTP: the route hands over
the ``DPoP`` header values with the method and the endpoint's public URL (built from the
issuer, never from the request's ``Host``).
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Final, Literal

from ostiary.dpop import DPoPChecker
from ostiary.errors import InvalidDPoPProof, InvalidRequest

#: RFC 9449 §5: the ``token_type`` of a DPoP-bound access token, and of any other.
DPOP: Final = "DPoP"
BEARER: Final = "Bearer"
TokenType = Literal["Bearer", "DPoP"]
#: An RFC 7638 thumbprint with SHA-256: 32 bytes, base64url without padding.
_THUMBPRINT: Final = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class ProofRequest:
    """What one request offers for DPoP: every value of its ``DPoP`` header (§4.1: exactly
    one is accepted), its method, and the public URL of the endpoint it was sent to."""

    proofs: tuple[str, ...]
    method: str
    url: str

    def __repr__(self) -> str:  # a proof is a credential for its lifetime
        return f"ProofRequest(method={self.method!r}, url={self.url!r})"


async def proof_key(checker: DPoPChecker | None, request: ProofRequest | None) -> str | None:
    """The RFC 7638 thumbprint of the key that signed the request's proof, after every check
    of :meth:`DPoPChecker.check`; None for a request without proof. Raises
    :class:`~ostiary.errors.InvalidDPoPProof` (or :class:`~ostiary.errors.UseDPoPNonce`)."""
    if request is None:
        return None
    if checker is None:
        raise InvalidDPoPProof("DPoP is not supported here.", reason="unsupported")
    proof = await checker.check(request.proofs, method=request.method, url=request.url)
    return proof.jkt


def require_proof(jkt: str | None, *, client_id: str, required: bool) -> None:
    """RFC 9449 §5.2: a client registered with ``dpop_bound_access_tokens`` sends a proof
    with every token request."""
    if required and jkt is None:
        raise InvalidDPoPProof(
            "This client must send a DPoP proof.",
            reason="required",
            detail=f"client {client_id} is registered with dpop_bound_access_tokens",
        )


def require_key(bound: str | None, jkt: str | None, *, what: str) -> None:
    """What is bound to a key (``bound``, a thumbprint) is used only with a proof signed by
    that key (RFC 9449 §5 for refresh tokens, §10 for codes); unbound, anything goes."""
    if bound is None:
        return
    if jkt is None:
        raise InvalidDPoPProof(
            f"The {what} is bound to a DPoP key: send a proof signed by it.",
            reason="missing",
            detail=f"{what} bound to {bound}, no proof",
        )
    if not hmac.compare_digest(bound, jkt):
        raise InvalidDPoPProof(
            f"The DPoP proof is not signed by the key the {what} is bound to.",
            reason="key_mismatch",
            detail=f"{what} bound to {bound}, proof by {jkt}",
        )


def checked_thumbprint(value: str | None) -> str | None:
    """The ``dpop_jkt`` authorization request parameter (RFC 9449 §10), if well-formed: a
    base64url SHA-256 JWK thumbprint (RFC 7638). :class:`InvalidRequest` otherwise."""
    if value is None:
        return None
    if not _THUMBPRINT.fullmatch(value):
        raise InvalidRequest("dpop_jkt is not a base64url SHA-256 JWK thumbprint (RFC 7638).")
    return value


def token_type(jkt: str | None) -> TokenType:
    """RFC 9449 §5: ``DPoP`` for an access token bound to a key, else ``Bearer``."""
    return BEARER if jkt is None else DPOP
