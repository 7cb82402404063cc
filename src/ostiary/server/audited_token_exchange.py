"""The audit of ``POST /oauth/token``: what each exchange gave, and the failures worth an
operator's eye (a client that failed to authenticate, a code or refresh token refused, a
refresh token reused).

``client_credentials`` issuance is the hot path of service-to-service deployments: a success
is only counted by the metrics (when they are on), neither stored nor logged (the access log
has the request), so that the endpoint never waits on a database write or a log line for it.
Its failures, and every outcome of the other grants, are stored.
"""

from __future__ import annotations

from typing import Final

from ostiary.audit import SYSTEM, Outcome
from ostiary.authn.client_auth import ClientCredentials
from ostiary.errors import InvalidClient, OstiaryError, RefreshTokenReused, UseDPoPNonce
from ostiary.grants.base import IssuedTokens, OAuthParams
from ostiary.jose.inspect import inspect_compact
from ostiary.tokens.dpop_binding import ProofRequest
from ostiary.wiring import Services

CLIENT_CREDENTIALS: Final = "client_credentials"
# Failures stored for these grants (and, for any grant, a client that failed to authenticate).
_AUDITED_FAILURES: Final = frozenset({"authorization_code", "refresh_token"})


async def audited_exchange(
    services: Services,
    credentials: ClientCredentials,
    form: OAuthParams,
    *,
    dpop: ProofRequest | None = None,
) -> IssuedTokens:
    """The token endpoint's exchange, audited. An event of tokens bound to a DPoP key names
    the key's thumbprint (``dpop_jkt``), never the proof; a ``use_dpop_nonce`` answer is a
    step of the protocol (RFC 9449 §8), not a failure worth storing."""
    grant = form.get("grant_type") or "-"
    client_id = _claimed_client(credentials)
    audit = services.audit
    try:
        answer = await services.oauth.token_endpoint.exchange(credentials, form, dpop=dpop)
    except RefreshTokenReused as exc:
        await audit.record(
            "refresh.reuse",
            actor=SYSTEM,
            subject=exc.user_id,
            outcome=Outcome.FAILURE,
            data={"session": exc.session_id, "client": client_id, "grant": grant[:50]},
        )
        raise
    except OstiaryError as exc:
        if isinstance(exc, UseDPoPNonce):
            raise
        if isinstance(exc, InvalidClient) or grant in _AUDITED_FAILURES:
            await audit.record(
                f"oauth.{grant[:50]}",
                actor=client_id,
                subject=client_id,
                outcome=Outcome.FAILURE,
                data={"grant": grant[:50], "reason": exc.error},
            )
        raise
    tokens = _kinds(answer)
    if grant == CLIENT_CREDENTIALS:
        if audit.listeners:  # counted by the metrics, neither stored nor logged: see above
            event = audit.event(
                "oauth.client_credentials",
                actor=client_id,
                subject=client_id,
                data=_with_key({"grant": grant, "tokens": tokens}, answer),
            )
            audit.notify(event)
        return answer
    facts = _with_key({"grant": grant, "tokens": tokens, "client": client_id}, answer)
    subject = client_id
    try:
        _, claims = inspect_compact(answer.access.token)  # signed here a moment ago
        subject = str(claims.get("sub", client_id))
        if "sid" in claims:
            facts["session"] = str(claims["sid"])
    except OstiaryError:
        pass
    await audit.record(f"oauth.{grant}", actor=client_id, subject=subject, data=facts)
    return answer


def _with_key(facts: dict[str, str], answer: IssuedTokens) -> dict[str, str]:
    """The facts, with the thumbprint of the DPoP key the tokens are bound to, if any."""
    return facts if answer.dpop_jkt is None else {**facts, "dpop_jkt": answer.dpop_jkt}


def _claimed_client(credentials: ClientCredentials) -> str:
    claimed = credentials.basic[0] if credentials.basic is not None else credentials.client_id
    return (claimed or "unknown")[:200]


def _kinds(answer: IssuedTokens) -> str:
    kinds = ["access"]
    if answer.refresh_token is not None:
        kinds.append("refresh")
    if answer.id_token is not None:
        kinds.append("id")
    return ",".join(kinds)
