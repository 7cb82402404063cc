"""The one exception hierarchy of Ostiary.

Every error has a public ``description`` that may be sent to a client and a private ``detail``
that is logged and never sent. OAuth errors are named after the error codes of RFC 6749 §5.2
and RFC 6750 §3.1 and carry their ``error`` code and HTTP ``status_code``. Every failure to
verify a token is an :class:`InvalidToken` with a machine-readable ``reason``, so a caller
catches one class and a log line says why.
"""

from __future__ import annotations

from typing import ClassVar


class OstiaryError(Exception):
    """Base of every error Ostiary raises on purpose."""

    error: ClassVar[str] = "server_error"
    status_code: ClassVar[int] = 500
    description: str = "The server met an unexpected condition."

    def __init__(self, description: str | None = None, *, detail: str | None = None) -> None:
        if description is not None:
            self.description = description
        self.detail = detail
        super().__init__(self.description)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r})"


# --- configuration -------------------------------------------------------------------------


class ConfigurationError(OstiaryError):
    """The operator gave a setting, key or argument that cannot be used safely."""

    description = "The configuration is not valid."


class InvalidKey(ConfigurationError):
    """A key that is malformed, too weak, or of the wrong kind for its algorithm."""

    description = "The key is not valid for its algorithm."


# --- OAuth 2.0 (RFC 6749 §5.2) and Bearer (RFC 6750 §3.1) -----------------------------------


class InvalidRequest(OstiaryError):
    error = "invalid_request"
    status_code = 400
    description = "The request is missing a parameter or is otherwise malformed."


class InvalidClient(OstiaryError):
    """RFC 6749 §5.2: 401 with a ``WWW-Authenticate`` challenge for the scheme the client used."""

    error = "invalid_client"
    status_code = 401
    description = "Client authentication failed."


class InvalidGrant(OstiaryError):
    error = "invalid_grant"
    status_code = 400
    description = "The grant is invalid, expired or revoked."


class UnauthorizedClient(OstiaryError):
    error = "unauthorized_client"
    status_code = 400
    description = "The client is not allowed to use this grant type."


class UnsupportedGrantType(OstiaryError):
    error = "unsupported_grant_type"
    status_code = 400
    description = "The grant type is not supported."


class InvalidScope(OstiaryError):
    error = "invalid_scope"
    status_code = 400
    description = "The requested scope is invalid or exceeds what was granted."


class InsufficientScope(OstiaryError):
    """RFC 6750 §3.1: the token is valid but lacks a scope (or role) the resource needs."""

    error = "insufficient_scope"
    status_code = 403
    description = "The token does not grant the scope this resource requires."

    def __init__(
        self,
        description: str | None = None,
        *,
        scope: str = "",
        detail: str | None = None,
    ) -> None:
        super().__init__(description, detail=detail)
        self.scope = scope


class RateLimited(OstiaryError):
    error = "rate_limited"
    status_code = 429
    description = "Too many requests; try again later."

    def __init__(
        self,
        description: str | None = None,
        *,
        retry_after: int = 1,
        detail: str | None = None,
    ) -> None:
        super().__init__(description, detail=detail)
        self.retry_after = retry_after


class InvalidDPoPProof(OstiaryError):
    """RFC 9449 §5 and §7.1: the ``DPoP`` proof is missing, malformed, or fails a check of
    §4.3. 400 at the token endpoint; a resource server answers it with 401 and a ``DPoP``
    challenge. ``reason`` names the failed check for logs and metrics."""

    error = "invalid_dpop_proof"
    status_code = 400
    description = "The DPoP proof is invalid."

    def __init__(
        self, description: str | None = None, *, reason: str = "invalid", detail: str | None = None
    ) -> None:
        super().__init__(description, detail=detail)
        self.reason = reason


class UseDPoPNonce(OstiaryError):
    """RFC 9449 §8 and §9: the proof must carry the nonce this server provides; the answer
    sends ``nonce`` in the ``DPoP-Nonce`` header so that the client can retry once."""

    error = "use_dpop_nonce"
    status_code = 400
    description = "Authorization server requires nonce in DPoP proof."

    def __init__(
        self, nonce: str, description: str | None = None, *, detail: str | None = None
    ) -> None:
        super().__init__(description, detail=detail)
        self.nonce = nonce


class InvalidTarget(OstiaryError):
    """RFC 8707 §2: the ``resource`` asked for is unknown or not allowed for the client."""

    error = "invalid_target"
    status_code = 400
    description = "The requested resource is invalid or not allowed for this client."


class UnsupportedResponseType(OstiaryError):
    """RFC 6749 §4.1.2.1; the implicit flow is refused per RFC 9700 §2.1.2."""

    error = "unsupported_response_type"
    status_code = 400
    description = "The response type is not supported."


class AccessDenied(OstiaryError):
    """RFC 6749 §4.1.2.1: the user or the server denied the request."""

    error = "access_denied"
    status_code = 403
    description = "The request was denied."


class LoginRequired(OstiaryError):
    """OpenID Connect Core §3.1.2.6: ``prompt=none`` and nobody is signed in."""

    error = "login_required"
    status_code = 400
    description = "The user must sign in."


class ConsentRequired(OstiaryError):
    """OpenID Connect Core §3.1.2.6: ``prompt=none`` and consent is missing."""

    error = "consent_required"
    status_code = 400
    description = "The user must consent."


class InvalidClientMetadata(InvalidRequest):
    """RFC 7591 §3.2.2: a client registration setting is not valid."""

    error = "invalid_client_metadata"
    description = "A client setting is not valid."


class TemporarilyUnavailable(OstiaryError):
    error = "temporarily_unavailable"
    status_code = 503
    description = "The service is temporarily unable to handle the request."


class ServerError(OstiaryError):
    error = "server_error"
    status_code = 500
    description = "The server met an unexpected condition."


# --- accounts and sessions --------------------------------------------------------------------


class InvalidCredentials(InvalidGrant):
    """RFC 6749 §5.2 ``invalid_grant`` for a failed login: a wrong password, an unknown user and a
    disabled account all raise this one error with one description, so that a client cannot tell
    which it was. 401 because the caller's credentials were refused."""

    status_code = 401
    description = "The username or password is incorrect."


class RefreshTokenReused(InvalidGrant):
    """A refresh token was presented after it had been exchanged (RFC 9700 §4.14.2): the whole
    family was revoked. ``session_id`` and ``user_id`` let the caller revoke the family's live
    access tokens too; the client sees a plain ``invalid_grant``."""

    def __init__(self, *, session_id: str, user_id: str, detail: str | None = None) -> None:
        super().__init__(detail=detail or f"refresh token reuse; session {session_id} revoked")
        self.session_id = session_id
        self.user_id = user_id


class WeakPassword(InvalidRequest):
    """The new password breaks the password policy; the description says which rule."""

    description = "The password does not meet the password policy."


class InvalidUsername(InvalidRequest):
    description = "The username is not valid."


class CurrentPasswordIncorrect(OstiaryError):
    """``POST /auth/password`` with a wrong current password. 403, not 401: the caller is
    authenticated by its token; it only failed to prove it knows the password."""

    error = "access_denied"
    status_code = 403
    description = "The current password is incorrect."


class AccountExists(OstiaryError):
    error = "account_exists"
    status_code = 409
    description = "An account with this username exists already."


class RegistrationDisabled(OstiaryError):
    """Self-registration is switched off (RFC 6749 §4.1.2.1 ``access_denied``)."""

    error = "access_denied"
    status_code = 403
    description = "Registration is disabled."


class NotFound(OstiaryError):
    error = "not_found"
    status_code = 404
    description = "The resource was not found."


# --- token verification (RFC 6750 §3.1 invalid_token) --------------------------------------


class InvalidToken(OstiaryError):
    """The token is expired, revoked, malformed or invalid for other reasons (RFC 6750 §3.1).

    ``reason`` says which check failed, for logs and metrics; the public description stays
    generic so that a client learns no more than it must.
    """

    error = "invalid_token"
    status_code = 401
    reason: ClassVar[str] = "invalid"
    description = "The access token is invalid."

    @property
    def reasons(self) -> tuple[str, ...]:
        return (self.reason,)


class MalformedToken(InvalidToken):
    reason = "malformed"
    description = "The token is not a well-formed compact JWS."


class TokenTooLarge(MalformedToken):
    reason = "too_large"
    description = "The token is larger than allowed."


class DuplicateMember(MalformedToken):
    reason = "duplicate_member"
    description = "The token repeats a member name in its header or claims."


class DisallowedAlgorithm(InvalidToken):
    reason = "disallowed_algorithm"
    description = "The token's algorithm is not allowed."


class AlgorithmMismatch(InvalidToken):
    reason = "algorithm_mismatch"
    description = "The token's algorithm is not the one bound to its key."


class ForbiddenHeader(InvalidToken):
    reason = "forbidden_header"
    description = "The token carries a header parameter that is never accepted."


class UnsupportedCritical(InvalidToken):
    reason = "unsupported_crit"
    description = "The token marks a header extension as critical that is not understood."


class UnknownKey(InvalidToken):
    reason = "unknown_key"
    description = "The token was signed with an unknown key."


class BadSignature(InvalidToken):
    reason = "bad_signature"
    description = "The token's signature is invalid."


class WrongTokenType(InvalidToken):
    reason = "wrong_type"
    description = "The token is not of the expected type."


class Expired(InvalidToken):
    reason = "expired"
    description = "The token has expired."


class NotYetValid(InvalidToken):
    reason = "not_yet_valid"
    description = "The token is not valid yet."


class IssuedInFuture(InvalidToken):
    reason = "issued_in_future"
    description = "The token claims to be issued in the future."


class WrongIssuer(InvalidToken):
    reason = "wrong_issuer"
    description = "The token was not issued by the expected issuer."


class WrongAudience(InvalidToken):
    reason = "wrong_audience"
    description = "The token is not intended for this audience."


class MissingClaim(InvalidToken):
    reason = "missing_claim"
    description = "The token lacks a required claim."


class InvalidClaim(InvalidToken):
    reason = "invalid_claim"
    description = "A claim of the token has an invalid value."


class Revoked(InvalidToken):
    reason = "revoked"
    description = "The token has been revoked."


class BoundTokenAsBearer(InvalidToken):
    """RFC 9449 §7.2: a sender-constrained token (one with a ``cnf`` claim, RFC 7800 §3.1)
    presented as a bearer token. A resource server must not accept it without its proof."""

    reason = "bound_token_as_bearer"
    description = "The access token is bound to a key: send it with the DPoP scheme and a proof."


class NotDPoPBound(InvalidToken):
    """RFC 9449 §7.1: the ``DPoP`` scheme with a token that is not DPoP-bound (no ``cnf.jkt``,
    §6.1)."""

    reason = "not_dpop_bound"
    description = "The access token is not bound to a DPoP key."


class DPoPKeyMismatch(InvalidToken):
    """RFC 9449 §6.1 and §7.1: the proof's key is not the one the token is bound to."""

    reason = "dpop_key_mismatch"
    description = "Invalid DPoP key binding."


class DPoPRequired(InvalidToken):
    """The resource accepts DPoP-bound tokens only (RFC 9449 §7.1), and the request presented
    a bearer token."""

    reason = "dpop_required"
    description = "This resource requires a DPoP-bound access token and its proof."


class InvalidClaims(InvalidToken):
    """Several claim checks failed at once; ``errors`` holds each of them."""

    reason = "invalid_claims"
    description = "The token's claims are invalid."

    def __init__(self, errors: list[InvalidToken]) -> None:
        self.errors = tuple(errors)
        names = ", ".join(e.reason for e in self.errors)
        super().__init__(detail=f"failed claim checks: {names}")

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(e.reason for e in self.errors)


class KeySetUnavailable(TemporarilyUnavailable):
    """No key set could be fetched yet, so no token can be verified (the JWKS endpoint is down
    and nothing was cached)."""

    description = "The keys to verify tokens are not available right now."
