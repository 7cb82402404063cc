"""Validation of JWT claims (RFC 7519 §4.1) and of JWT access tokens (RFC 9068 §4).

joserfc's ``decode`` checks only the signature; every registered claim is checked here, against
an injected clock and with a leeway for clock skew (RFC 7519 §4.1.4-4.1.6). All checks run, and
when several fail the error names each of them. :class:`ClaimRules` says what one kind of JWT
must carry (an access token, a client assertion, an ID token used as a logout hint).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, TypeGuard

from ostiary.errors import (
    Expired,
    InvalidClaim,
    InvalidClaims,
    InvalidToken,
    IssuedInFuture,
    MissingClaim,
    NotYetValid,
    WrongAudience,
    WrongIssuer,
    WrongTokenType,
)

DEFAULT_LEEWAY: Final = 30.0
#: RFC 9068 §2.2: the claims every JWT access token carries.
ACCESS_TOKEN_CLAIMS: Final = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id")
#: RFC 9068 §2.1 and §4: ``typ`` is ``at+jwt``; the full media type is accepted too.
ACCESS_TOKEN_TYPES: Final = frozenset({"at+jwt", "application/at+jwt"})
_STRING_CLAIMS: Final = ("sub", "jti", "client_id", "scope", "sid")
#: NumericDates beyond this (year 287396) are refused rather than overflowing a float.
_MAX_DATE: Final = 2**53


class AudienceMatch(enum.Enum):
    """How ``aud`` is compared with :attr:`ClaimRules.audiences`."""

    #: ``aud``, a string or an array of strings, names at least one of the audiences
    #: (RFC 7519 §4.1.3). For access tokens.
    ONE_OF = "one_of"
    #: ``aud`` is a single string equal to one of the audiences; an array is refused, even
    #: one holding only an accepted value (draft-ietf-oauth-rfc7523bis: client assertions).
    EXACT = "exact"
    #: ``aud`` is a non-empty string or a non-empty array of non-empty strings, any values:
    #: for a caller that decides itself whom a token may serve (introspection, a logout hint
    #: naming its client). ``audiences`` is then empty.
    SHAPE_ONLY = "shape_only"


@dataclass(frozen=True, slots=True)
class ClaimRules:
    """What a verifier expects of a token's claims (and of its ``typ``)."""

    #: The one issuer accepted, compared exactly (RFC 8725 §3.8), never as a prefix.
    issuer: str
    #: Accepted audiences, compared as :attr:`audience_match` says.
    audiences: frozenset[str]
    #: Claims that must be present.
    required: tuple[str, ...] = ACCESS_TOKEN_CLAIMS
    #: Seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
    leeway: float = DEFAULT_LEEWAY
    #: Accepted ``typ`` header values, lower case; compared case-insensitively (RFC 7515
    #: §4.1.9).
    types: frozenset[str] = field(default=ACCESS_TOKEN_TYPES)
    #: Default True: a token without ``typ`` is refused (RFC 9068 §4). False where the kind
    #: of token does not require it (RFC 7523 assertions, OpenID Connect ID tokens); a
    #: ``typ`` that is present must still be one of :attr:`types`.
    type_required: bool = True
    #: Default :attr:`AudienceMatch.ONE_OF` (RFC 7519 §4.1.3).
    audience_match: AudienceMatch = AudienceMatch.ONE_OF
    #: Default None: any string. Else ``sub``, when present, must equal it (RFC 7523 §3: a
    #: client assertion's ``sub`` is the client id); put ``sub`` in :attr:`required` too.
    subject: str | None = None
    #: Default True. False lets an expired token pass (``exp`` must still be a NumericDate):
    #: for an ID token that only identifies, as a logout hint (RP-Initiated Logout §2).
    verify_exp: bool = True

    def __post_init__(self) -> None:
        if not self.issuer:
            raise ValueError("an issuer is required")
        if (self.audience_match is AudienceMatch.SHAPE_ONLY) == bool(self.audiences):
            raise ValueError("audiences are required, except with AudienceMatch.SHAPE_ONLY")

    @classmethod
    def for_access_tokens(
        cls, *, issuer: str, audience: str | Iterable[str], leeway: float = DEFAULT_LEEWAY
    ) -> ClaimRules:
        audiences = frozenset([audience] if isinstance(audience, str) else audience)
        if not issuer:
            raise ValueError("an issuer is required")
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise ValueError("at least one non-empty audience is required")
        if leeway < 0 or leeway > 300:
            raise ValueError("leeway must be between 0 and 300 seconds")
        return cls(issuer=issuer, audiences=audiences, leeway=float(leeway))


def check_type(header: dict[str, Any], types: Collection[str], *, required: bool = True) -> None:
    """RFC 9068 §4: reject a token whose ``typ`` is not one of ``types``, so that an ID token
    or another JWT signed by the same key never passes as an access token (RFC 8725 §3.11).
    With ``required=False`` a header without ``typ`` passes."""
    typ = header.get("typ")
    if typ is None and not required and "typ" not in header:
        return
    if not isinstance(typ, str) or typ.lower() not in types:
        raise WrongTokenType(detail=f"typ {str(typ)[:32]!r}")


def validate_claims(claims: dict[str, Any], rules: ClaimRules, *, now: float) -> None:
    """Run every check; raise the one error, or :class:`InvalidClaims` naming them all.

    The common case, a valid token, takes the short path; only a failure collects details.
    """
    if _looks_valid(claims, rules, now):
        return
    errors = _collect_errors(claims, rules, now)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InvalidClaims(errors)


def _looks_valid(claims: dict[str, Any], rules: ClaimRules, now: float) -> bool:
    """True only when every check passes; may say False for a valid token (then the slow path
    decides), never True for an invalid one."""
    for name in rules.required:
        if name not in claims:
            return False
    for name in _STRING_CLAIMS:
        if name in claims and type(claims[name]) is not str:
            return False
    if "roles" in claims and not _is_string_list(claims["roles"]):
        return False
    if claims.get("iss") != rules.issuer and "iss" in claims:
        return False
    # Presence, not ``is not None``: a JSON null (``"exp": null``) must take the slow path and
    # fail there, never skip the check.
    if "aud" in claims:
        aud = claims["aud"]
        if type(aud) is str:
            if aud not in rules.audiences:  # SHAPE_ONLY has none: the slow path decides
                return False
        elif (
            rules.audience_match is not AudienceMatch.ONE_OF
            or not _is_string_list(aud)
            or rules.audiences.isdisjoint(aud)
        ):
            return False
    if rules.subject is not None and claims.get("sub", rules.subject) != rules.subject:
        return False
    for name in ("exp", "nbf", "iat"):
        if name in claims:
            value = claims[name]
            if not (type(value) is int and 0 <= value < _MAX_DATE):
                return False
    leeway = rules.leeway
    exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
    if exp is not None and now >= exp + leeway:
        return False  # may be fine (verify_exp=False): the slow path decides
    if nbf is not None and now + leeway < nbf:
        return False
    return iat is None or iat <= now + leeway


def _collect_errors(claims: dict[str, Any], rules: ClaimRules, now: float) -> list[InvalidToken]:
    errors: list[InvalidToken] = []
    missing = [name for name in rules.required if name not in claims]
    if missing:
        errors.append(MissingClaim(detail=f"missing {', '.join(missing)}"))
    for check in (_check_types, _check_issuer, _check_subject, _check_audience, _check_times):
        errors.extend(check(claims, rules, now))
    return errors


def _check_types(claims: dict[str, Any], rules: ClaimRules, now: float) -> list[InvalidToken]:
    bad: list[str] = [n for n in _STRING_CLAIMS if n in claims and not isinstance(claims[n], str)]
    if "roles" in claims and not _is_string_list(claims["roles"]):
        bad.append("roles")
    return [InvalidClaim(detail=f"{', '.join(bad)} of the wrong type")] if bad else []


def _check_issuer(claims: dict[str, Any], rules: ClaimRules, now: float) -> list[InvalidToken]:
    if "iss" in claims and claims["iss"] != rules.issuer:
        return [WrongIssuer(detail="iss does not equal the expected issuer")]
    return []


def _check_subject(claims: dict[str, Any], rules: ClaimRules, now: float) -> list[InvalidToken]:
    if rules.subject is not None and "sub" in claims and claims["sub"] != rules.subject:
        return [InvalidClaim(detail="sub is not the expected subject")]
    return []


def _check_audience(claims: dict[str, Any], rules: ClaimRules, now: float) -> list[InvalidToken]:
    if "aud" not in claims:
        return []
    aud = claims["aud"]
    values = [aud] if isinstance(aud, str) else aud
    if not _is_string_list(values):
        return [InvalidClaim(detail="aud is neither a string nor an array of strings")]
    match = rules.audience_match
    if match is AudienceMatch.SHAPE_ONLY:
        if not values or not all(values):
            return [InvalidClaim(detail="aud is empty or holds an empty string")]
        return []
    if match is AudienceMatch.EXACT and not isinstance(aud, str):
        return [WrongAudience(detail="aud is an array, not the one expected string")]
    if rules.audiences.isdisjoint(values):
        return [WrongAudience(detail="aud names none of the accepted audiences")]
    return []


def _check_times(claims: dict[str, Any], rules: ClaimRules, now: float) -> list[InvalidToken]:
    errors: list[InvalidToken] = []
    leeway = rules.leeway
    for name in ("exp", "nbf", "iat"):
        if name in claims and not _is_number(claims[name]):
            errors.append(InvalidClaim(detail=f"{name} is not a NumericDate"))
    exp, nbf, iat = (claims.get(n) for n in ("exp", "nbf", "iat"))
    if rules.verify_exp and _is_number(exp) and now >= exp + leeway:
        errors.append(Expired(detail="exp is in the past"))
    if _is_number(nbf) and now + leeway < nbf:
        errors.append(NotYetValid(detail="nbf is in the future"))
    if _is_number(iat) and iat > now + leeway:
        errors.append(IssuedInFuture(detail="iat is in the future"))
    return errors


def _is_number(value: Any) -> TypeGuard[int | float]:
    """A NumericDate (RFC 7519 §2): a JSON number, here bounded so that arithmetic stays exact."""
    # The range check comes first: ``math.isfinite`` raises OverflowError on an int such as
    # 10**400, which a JSON payload can carry; a comparison never raises and also rules out inf
    # and NaN.
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and -_MAX_DATE < value < _MAX_DATE
        and math.isfinite(value)
    )


def _is_string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
