"""Compact JWS (RFC 7515 §7.1) signing and strict verification.

Parsing and signature checks are joserfc's; around them sit the checks RFC 8725 asks of a
verifier and that a JOSE library leaves to its caller: a size cap before any decoding, exactly
three segments, no ``none``, the algorithm fixed by the key rather than by the token (§3.1),
no key taken from the token itself (``jku``, ``x5u``, ``x5c``, ``jwk``; §3.10 and CVE-2018-0114),
no unknown ``crit`` (RFC 7515 §4.1.11), and no duplicate member names (§3.6 via RFC 7515 §5.2).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, NamedTuple, Protocol

from ostiary.encoding import b64url_bytes
from ostiary.errors import (
    AlgorithmMismatch,
    BadSignature,
    DisallowedAlgorithm,
    ForbiddenHeader,
    MalformedToken,
    TokenTooLarge,
    UnknownKey,
    UnsupportedCritical,
)
from ostiary.jose._b64 import COMPACT_ALPHABET, decode_checked
from ostiary.jose._json import strict_loads
from ostiary.jose.algorithms import ALGORITHMS
from ostiary.jose.jwk import JWK

DEFAULT_MAX_TOKEN_SIZE: Final = 8 * 1024
#: Header parameters that would let the token choose its own key (RFC 8725 §3.10).
FORBIDDEN_HEADERS: Final = frozenset({"jku", "x5u", "x5c", "jwk"})
#: RFC 7797 unencoded payloads are not used by JWTs and are refused with or without ``crit``.
_REFUSED_EXTENSIONS: Final = frozenset({"crit", "b64"})
_FORBIDDEN_OR_REFUSED: Final = FORBIDDEN_HEADERS | _REFUSED_EXTENSIONS


class KeyLookup(Protocol):
    """Where a verifier finds the key named by a token's ``kid``."""

    def get(self, kid: str | None) -> JWK | None: ...


class ParsedJWS(NamedTuple):
    """A compact JWS whose form and header passed the checks, its signature not yet checked.

    Immutable; a named tuple rather than a frozen dataclass, as it is built for every token
    verified and a tuple is built in a third of the time."""

    header: dict[str, Any]
    alg: str
    kid: str | None
    signing_input: bytes
    payload: bytes
    signature: bytes

    def verify(self, key: JWK) -> dict[str, Any]:
        """Check the signature with ``key`` (joserfc's algorithm) and return the claims set."""
        if key.alg != self.alg:
            raise AlgorithmMismatch(detail=f"token alg {self.alg}, key {key.kid} is {key.alg}")
        if not key.verify_signature(self.signing_input, self.signature):
            raise BadSignature()
        claims = strict_loads(self.payload)
        if not isinstance(claims, dict):
            raise MalformedToken(detail="the payload is not a JSON object")
        return claims


def parse_compact(
    token: str | bytes, *, max_size: int = DEFAULT_MAX_TOKEN_SIZE, embedded_key: bool = False
) -> ParsedJWS:
    """Check a token's form and header without touching any key.

    ``embedded_key`` lets the header carry a ``jwk``: only a DPoP proof may (RFC 9449 §4.2),
    whose key proves possession and is never trusted to vouch for anything else; ``jku``,
    ``x5u`` and ``x5c`` stay refused.

    The framing is parsed here rather than by joserfc's ``extract_compact`` because that one
    reads the header with a plain ``json.loads``, which silently keeps the last of duplicate
    members; parsing once, strictly, is also what keeps verification fast.

    A header that passed its checks is remembered by the exact bytes of its segment (an issuer
    puts the same header on every token of a key, a DPoP client on every proof): the same bytes
    decode to the same header, so a token whose header segment is one of them skips decoding
    and checking it again. The header returned is a new dict; values nested in it (a DPoP
    proof's ``jwk``) are shared with that memory and must not be changed.
    """
    raw = _as_bytes(token, max_size)
    segments = raw.split(b".")
    if len(segments) != 3:
        kind = "a JWE or nested token" if len(segments) == 5 else "not a compact JWS"
        raise MalformedToken(detail=f"{kind}: expected exactly three segments")
    header_b64, payload_b64, signature_b64 = segments
    if raw.translate(None, COMPACT_ALPHABET):
        raise MalformedToken(detail="characters outside base64url")
    headers = _EMBEDDED_KEY_HEADERS if embedded_key else _HEADERS
    known = headers.get(header_b64)
    if known is None:
        try:
            header_json = decode_checked(header_b64)
            payload = decode_checked(payload_b64)
            signature = decode_checked(signature_b64)
        except ValueError as exc:
            raise MalformedToken(detail=f"bad base64url: {exc}") from None
        known = _checked_header(header_json, embedded_key)
        if len(header_b64) <= _REMEMBERED_HEADER_SIZE:
            if len(headers) >= _REMEMBERED_HEADERS:
                headers.clear()  # a flood of distinct headers costs a re-parse, nothing more
            headers[header_b64] = known
    else:
        try:
            payload = decode_checked(payload_b64)
            signature = decode_checked(signature_b64)
        except ValueError as exc:
            raise MalformedToken(detail=f"bad base64url: {exc}") from None
    header, alg, kid = known
    if not payload_b64 or not signature:
        raise MalformedToken(detail="empty payload or signature")
    return ParsedJWS(
        dict(header),
        alg,
        kid,
        raw[: len(header_b64) + 1 + len(payload_b64)],
        payload,
        signature,
    )


def _checked_header(
    header_json: bytes, embedded_key: bool
) -> tuple[dict[str, Any], str, str | None]:
    """The header's checks (RFC 8725 §3.1, §3.10; RFC 7515 §4.1.11): ``(header, alg, kid)``."""
    header = strict_loads(header_json)
    if not isinstance(header, dict):
        raise MalformedToken(detail="the header is not a JSON object")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        # "none" in any spelling lands here, as does every algorithm off the allow-list.
        raise DisallowedAlgorithm(detail=f"alg {str(alg)[:32]!r} is not allowed")
    if not _FORBIDDEN_OR_REFUSED.isdisjoint(header):
        forbidden = FORBIDDEN_HEADERS & header.keys()
        if embedded_key:
            forbidden -= {"jwk"}
        if forbidden:
            raise ForbiddenHeader(detail=f"header carries {sorted(forbidden)}")
        if not _REFUSED_EXTENSIONS.isdisjoint(header):
            raise UnsupportedCritical(detail="crit/b64 extensions are not supported")
    kid = header.get("kid")
    if "kid" in header and not isinstance(kid, str):  # "kid": null is not "no kid"
        raise MalformedToken(detail="kid is not a string")
    return header, alg, kid


#: Headers that passed :func:`_checked_header`, by their segment's bytes: one map for tokens,
#: one for DPoP proofs (whose header may carry a ``jwk``). Bounded in entries and in the size
#: of a segment remembered (a proof's header with an RSA-3072 ``jwk`` fits).
_HEADERS: dict[bytes, tuple[dict[str, Any], str, str | None]] = {}
_EMBEDDED_KEY_HEADERS: dict[bytes, tuple[dict[str, Any], str, str | None]] = {}
_REMEMBERED_HEADERS: Final = 512
_REMEMBERED_HEADER_SIZE: Final = 1024


def verify_compact(
    token: str | bytes, keys: KeyLookup, *, max_size: int = DEFAULT_MAX_TOKEN_SIZE
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse, find the key by ``kid`` among ``keys`` and check the signature.

    Returns ``(header, claims)``. Claims are not validated here: see :mod:`ostiary.jose.claims`.
    """
    parsed = parse_compact(token, max_size=max_size)
    key = keys.get(parsed.kid)
    if key is None:
        raise UnknownKey(detail="no key for the token's kid")
    return parsed.header, parsed.verify(key)


def sign_compact(
    claims: Mapping[str, Any],
    key: JWK,
    *,
    typ: str = "JWT",
    headers: Mapping[str, Any] | None = None,
) -> str:
    """Sign a claims set with ``key`` as a compact JWS whose header names ``alg``, ``kid`` and
    ``typ`` (RFC 7515 §7.1; RFC 9068 §2.1 for ``typ: at+jwt``)."""
    if headers:
        if not _FORBIDDEN_OR_REFUSED.isdisjoint(headers) or "alg" in headers:
            raise ValueError("alg, jku, x5u, x5c, jwk, crit and b64 are never set by the caller")
        protected = {"alg": key.alg, "kid": key.kid, "typ": typ, **headers}
        header_segment = b64url_bytes(_COMPACT_JSON.encode(protected).encode())
    else:
        header_segment = _plain_header(key.alg, key.kid, typ)
    signing_input = (
        header_segment + b"." + b64url_bytes(_COMPACT_UNICODE_JSON.encode(claims).encode())
    )
    signature = key.sign(signing_input)
    return (signing_input + b"." + b64url_bytes(signature)).decode("ascii")


#: ``json.dumps(..., separators=(",", ":"))`` (and with ``ensure_ascii=False``), the encoders
#: made once rather than for every call.
_COMPACT_JSON: Final = json.JSONEncoder(separators=(",", ":"))
_COMPACT_UNICODE_JSON: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
#: Header segments signed without extra headers, by (alg, kid, typ): every token of a key
#: carries the same one.
_SIGNED_HEADERS: dict[tuple[str, str, str], bytes] = {}


def _plain_header(alg: str, kid: str, typ: str) -> bytes:
    """The header segment ``{"alg", "kid", "typ"}``, made once per distinct triple (bounded)."""
    segment = _SIGNED_HEADERS.get((alg, kid, typ))
    if segment is None:
        protected = {"alg": alg, "kid": kid, "typ": typ}
        segment = b64url_bytes(_COMPACT_JSON.encode(protected).encode())
        if len(_SIGNED_HEADERS) >= _REMEMBERED_HEADERS:
            _SIGNED_HEADERS.clear()
        _SIGNED_HEADERS[(alg, kid, typ)] = segment
    return segment


def _as_bytes(token: str | bytes, max_size: int) -> bytes:
    if isinstance(token, str):
        if len(token) > max_size:
            raise TokenTooLarge(detail=f"{len(token)} characters, limit {max_size}")
        try:
            return token.encode("ascii")
        except UnicodeEncodeError:
            raise MalformedToken(detail="non-ASCII characters") from None
    if isinstance(token, bytes | bytearray):
        if len(token) > max_size:
            raise TokenTooLarge(detail=f"{len(token)} bytes, limit {max_size}")
        return bytes(token)
    raise MalformedToken(detail=f"a token is text, not {type(token).__name__}")
