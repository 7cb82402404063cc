"""DPoP proofs (RFC 9449): making one, and the checks of §4.3 that need no state.

A proof is a JWT signed by a key the client holds, whose public half travels in the proof's
own ``jwk`` header (§4.2): the key proves possession, it vouches for nothing else, so the
embedded key that RFC 8725 §3.10 forbids in every other token is allowed here only. What this
module checks, in the order of §4.3: one well-formed compact JWS no larger than the cap,
``typ: dpop+jwt``, an asymmetric ``alg`` from the allow-list (never ``none``, never HMAC), a
public ``jwk`` with no private member (step 7) that fits the ``alg``, the signature, the
claims ``jti``, ``htm``, ``htu``, ``iat`` (and ``ath`` where an access token is presented,
§4.3 step 12, with ``nonce`` checked by the caller), ``htm`` equal to the request's method,
``htu`` equal to its URI without query and fragment once both are normalized (RFC 3986
§6.2.2-6.2.3), and ``iat`` within a window around now (§11.1). The ``jti`` replay cache and
server nonces hold state and live in :mod:`ostiary.dpop`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from ostiary.encoding import b64url, b64url_bytes
from ostiary.errors import InvalidDPoPProof, InvalidKey, InvalidToken
from ostiary.jose.algorithms import ALGORITHMS
from ostiary.jose.jwk import JWK, PRIVATE_MEMBERS
from ostiary.jose.jws import parse_compact

#: RFC 9449 §4.2: the ``typ`` header of a proof.
DPOP_TYP: Final = "dpop+jwt"
#: The asymmetric algorithms a proof may use (RFC 9449 §4.2: never ``none``, never a MAC).
DPOP_ALGORITHMS: Final = tuple(name for name, spec in ALGORITHMS.items() if spec.kty != "oct")
#: The default allow-list: ES256 (what browsers' WebCrypto and most clients use), EdDSA (also
#: by its RFC 9864 name Ed25519) and the RSA signatures.
DEFAULT_DPOP_ALGORITHMS: Final = ("ES256", "ES384", "EdDSA", "Ed25519", "RS256", "PS256")
#: A proof is a header with a public key and a few short claims: 2 KiB covers an RSA-4096
#: ``jwk`` with room; a larger one is refused before anything is decoded.
DEFAULT_MAX_PROOF_SIZE: Final = 4096
#: Seconds a proof is accepted after its ``iat`` (§11.1: "a relatively brief period").
DEFAULT_PROOF_MAX_AGE: Final = 60
#: Clock difference tolerated on either side of ``iat``.
DEFAULT_PROOF_LEEWAY: Final = 5
#: Longest ``jti`` accepted (a UUID or 128 random bits is 22-36 characters).
MAX_JTI_LENGTH: Final = 128
_NONCE_CHARS: Final = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")  # RFC 9449 §8.1 NQCHAR
_KEY_CACHE_SIZE: Final = 512
#: URLs (``htu`` and the request's) whose normal form is remembered: a client names the same few
#: URLs in every proof, and a server is reached at a few. Each is at most a proof's size.
_URL_CACHE_SIZE: Final = 256
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_PERCENT: Final = re.compile(r"%[0-9A-Fa-f]{2}")
_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


@dataclass(frozen=True, slots=True)
class DPoPProof:
    """A proof that passed the stateless checks. ``jkt`` is the RFC 7638 thumbprint of its key:
    what an access token's ``cnf.jkt`` (RFC 9449 §6.1) must equal."""

    jkt: str
    jti: str
    iat: int
    htm: str
    htu: str
    nonce: str | None
    alg: str

    def __repr__(self) -> str:
        return f"DPoPProof(jkt={self.jkt!r}, htm={self.htm!r}, htu={self.htu!r})"


def access_token_hash(access_token: str) -> str:
    """RFC 9449 §4.2 ``ath``: base64url of the SHA-256 of the access token's ASCII bytes."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def normalize_htu(uri: str) -> str:
    """The HTTP URI a proof is bound to, as RFC 9449 §4.3 step 9 compares it: no query, no
    fragment, and the syntax- and scheme-based normalization of RFC 3986 §6.2.2-6.2.3 (scheme
    and host lower-cased, the default port dropped, an empty path as ``/``, percent-encodings
    upper-cased and unreserved characters decoded). ``ValueError`` for what is not an
    absolute ``http`` or ``https`` URI."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a URI: {exc}") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValueError("not an absolute http(s) URI")
    if parts.username is not None or parts.password is not None:
        raise ValueError("a URI with user information")
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    authority = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _PERCENT.sub(_normal_escape, parts.path) or "/"
    return f"{scheme}://{authority}{path}"


@functools.lru_cache(maxsize=_URL_CACHE_SIZE)
def _normalized(uri: str) -> str:
    """:func:`normalize_htu`, remembered (a ``ValueError`` is not: it is raised each time)."""
    return normalize_htu(uri)


def _normal_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(0)[1:], 16))
    return char if char in _UNRESERVED else match.group(0).upper()


def make_proof(
    key: JWK,
    *,
    method: str,
    url: str,
    jti: str,
    iat: int,
    access_token: str | None = None,
    nonce: str | None = None,
) -> str:
    """A DPoP proof (RFC 9449 §4.2) for one request, signed by ``key`` (a private asymmetric
    key) and carrying its public half. ``url`` loses its query and fragment (§4.2 ``htu``);
    ``access_token`` adds ``ath``, ``nonce`` the server's nonce (§8)."""
    if not key.is_private or key.is_symmetric or key.alg not in DPOP_ALGORITHMS:
        raise InvalidKey("a DPoP proof is signed with a private asymmetric key")
    public = {k: v for k, v in key.public_dict().items() if k not in ("kid", "alg", "use")}
    header = {"typ": DPOP_TYP, "alg": key.alg, "jwk": public}
    scheme_host_path = urlsplit(url)._replace(query="", fragment="").geturl()
    claims: dict[str, Any] = {"jti": jti, "htm": method, "htu": scheme_host_path, "iat": iat}
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    signing_input = (
        b64url_bytes(json.dumps(header, separators=(",", ":")).encode())
        + b"."
        + b64url_bytes(json.dumps(claims, separators=(",", ":")).encode())
    )
    return (signing_input + b"." + b64url_bytes(key.sign(signing_input))).decode("ascii")


@dataclass(frozen=True, slots=True)
class ProofRules:
    """What a verifier accepts: the algorithms, the size cap, and the ``iat`` window (a proof
    is good from ``leeway`` seconds before its ``iat`` until ``max_age + leeway`` after)."""

    algorithms: Collection[str] = DEFAULT_DPOP_ALGORITHMS
    max_size: int = DEFAULT_MAX_PROOF_SIZE
    max_age: int = DEFAULT_PROOF_MAX_AGE
    leeway: int = DEFAULT_PROOF_LEEWAY

    def __post_init__(self) -> None:
        refused = sorted(set(self.algorithms) - set(DPOP_ALGORITHMS))
        if refused or not self.algorithms:
            raise ValueError(f"DPoP proofs use asymmetric algorithms only, not {refused}")
        if self.max_age <= 0 or self.leeway < 0 or self.max_size <= 0:
            raise ValueError("max_age and max_size must be positive, leeway not negative")

    @property
    def remembered_for(self) -> int:
        """Seconds after ``iat`` a ``jti`` must be remembered to refuse every replay."""
        return self.max_age + self.leeway


DEFAULT_PROOF_RULES: Final = ProofRules()


def verify_proof(
    proof: str,
    *,
    method: str,
    url: str,
    now: float,
    rules: ProofRules = DEFAULT_PROOF_RULES,
    access_token: str | None = None,
) -> DPoPProof:
    """Check a proof per RFC 9449 §4.3 steps 2-9, 11 and 12 for a request of ``method`` to
    ``url`` at ``now``; ``access_token`` (the one presented with it, at a resource server)
    adds the ``ath`` check. Nonces (step 10) and the ``jti`` replay check (§11.1) need state
    and are the caller's. Raises :class:`~ostiary.errors.InvalidDPoPProof` naming the check."""
    if not isinstance(proof, str) or not proof:
        raise InvalidDPoPProof(reason="missing", detail="no proof")
    try:
        parsed = parse_compact(proof, max_size=rules.max_size, embedded_key=True)
    except InvalidToken as exc:
        raise InvalidDPoPProof(reason=exc.reason, detail=exc.detail) from None
    signing_input = parsed.signing_input
    header_b64 = signing_input[: signing_input.index(b".")]
    known = _proof_headers.get(header_b64)
    if known is None:
        header = parsed.header
        if header.get("typ") != DPOP_TYP:
            raise InvalidDPoPProof(reason="wrong_type", detail="typ is not dpop+jwt")
        if parsed.alg not in rules.algorithms:
            raise InvalidDPoPProof(reason="disallowed_algorithm", detail=f"alg {parsed.alg}")
        known = _proof_key(header.get("jwk"), parsed.alg)
        if len(header_b64) <= _PROOF_HEADER_SIZE:
            if len(_proof_headers) >= _KEY_CACHE_SIZE:
                _proof_headers.clear()  # a flood of new headers costs a key import, no more
            _proof_headers[header_b64] = known
    elif parsed.alg not in rules.algorithms:  # the typ of these bytes was checked before
        raise InvalidDPoPProof(reason="disallowed_algorithm", detail=f"alg {parsed.alg}")
    key, jkt = known
    try:
        claims = parsed.verify(key)
    except InvalidToken as exc:
        raise InvalidDPoPProof(reason=exc.reason, detail=exc.detail) from None
    get = claims.get
    jti, htm, htu, iat = get("jti"), get("htm"), get("htu"), get("iat")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise InvalidDPoPProof(reason="invalid_claim", detail="jti missing or too long")
    if not isinstance(htm, str) or not isinstance(htu, str):
        raise InvalidDPoPProof(reason="invalid_claim", detail="htm or htu missing")
    if type(iat) is not int:  # a bool is not a time; fractions are not NumericDate here
        raise InvalidDPoPProof(reason="invalid_claim", detail="iat missing or not an integer")
    if htm != method:
        raise InvalidDPoPProof(reason="wrong_method", detail=f"htm {htm[:16]!r} for {method}")
    try:
        bound_to = _normalized(htu)
    except ValueError as exc:
        raise InvalidDPoPProof(reason="wrong_uri", detail=f"htu: {exc}") from None
    try:
        expected = _normalized(url)
    except ValueError as exc:
        raise InvalidDPoPProof(reason="wrong_uri", detail=f"request URI: {exc}") from None
    if bound_to != expected:
        raise InvalidDPoPProof(reason="wrong_uri", detail="htu is another URI")
    # Compared, never subtracted as floats: a JSON integer such as 10**400 overflows a float.
    if iat > now + rules.leeway:
        ahead = _seconds(iat - int(now))
        raise InvalidDPoPProof(reason="issued_in_future", detail=f"iat {ahead} ahead")
    if iat < now - rules.max_age - rules.leeway:
        raise InvalidDPoPProof(reason="expired", detail=f"iat {_seconds(int(now) - iat)} ago")
    # Presence, not ``is not None``: ``"nonce": null`` is not a string of NQCHARs.
    nonce = get("nonce")
    if "nonce" in claims and not (isinstance(nonce, str) and _NONCE_CHARS.fullmatch(nonce)):
        raise InvalidDPoPProof(reason="invalid_claim", detail="nonce is not a string of NQCHARs")
    if access_token is not None:
        ath = get("ath")
        # An access token is ASCII (RFC 6750 §2.1 b64token): any other cannot match an ath.
        if (
            not isinstance(ath, str)
            or not access_token.isascii()
            or ath != access_token_hash(access_token)
        ):
            raise InvalidDPoPProof(reason="wrong_ath", detail="ath is not the token's hash")
    return DPoPProof(jkt, jti, iat, htm, htu, nonce, parsed.alg)


def _seconds(delta: int) -> str:
    """A difference of times for a log line, worked out in integers (a float overflows on
    the ``iat`` a proof may carry, such as 10**400) and capped in length."""
    return f"{delta}s" if abs(delta) < 10**12 else "ages"


#: The proof key and its thumbprint by the exact bytes of the header segment they came from,
#: once ``typ`` and the ``jwk`` passed their checks: a client sends the same header (``typ``,
#: ``alg``, ``jwk``) with every proof, so these bytes stand for all that was checked of them.
#: ``alg`` is still held against each verifier's :class:`ProofRules`.
_proof_headers: dict[bytes, tuple[JWK, str]] = {}
#: Longest header segment remembered there (one with an RSA-3072 ``jwk`` fits).
_PROOF_HEADER_SIZE: Final = 1024

#: Imported proof keys by their members: a client signs every proof with the same key, and
#: importing an EC point or RSA modulus costs more than checking the signature.
_keys: OrderedDict[tuple[str, object], tuple[JWK, str]] = OrderedDict()


def _cache_key(jwk: dict[str, Any], alg: str) -> tuple[str, object]:
    """What a ``jwk`` is remembered under: its members as a sorted tuple when every value is a
    string (a public JWK's are), else its canonical JSON text. Both tell apart any two objects
    that differ, the type of a value included; the tuple takes a fifth of the time."""
    members = tuple(sorted(jwk.items()))  # JSON object names are strings: never compared twice
    for _, value in members:
        if type(value) is not str:
            return alg, json.dumps(jwk, sort_keys=True, separators=(",", ":"))
    return alg, members


def _proof_key(jwk: object, alg: str) -> tuple[JWK, str]:
    """The proof's public key (§4.3 step 7: no private member) bound to its ``alg``, and its
    RFC 7638 thumbprint."""
    if not isinstance(jwk, dict):
        raise InvalidDPoPProof(reason="missing_key", detail="no jwk header")
    if not PRIVATE_MEMBERS.isdisjoint(jwk):
        raise InvalidDPoPProof(reason="private_key", detail="jwk carries private key material")
    cache_key = _cache_key(jwk, alg)
    known = _keys.get(cache_key)
    if known is not None:
        # Another thread (a WSGI server's) may have evicted it since the look-up.
        with contextlib.suppress(KeyError):
            _keys.move_to_end(cache_key)
        return known
    if "alg" in jwk and jwk["alg"] != alg:
        raise InvalidDPoPProof(reason="algorithm_mismatch", detail="jwk alg is not the proof's")
    try:
        key = JWK.from_dict(
            {k: v for k, v in jwk.items() if k not in ("alg", "kid", "use", "key_ops")}, alg=alg
        )
    except InvalidKey as exc:
        raise InvalidDPoPProof(reason="invalid_key", detail=str(exc)) from None
    if key.is_private or key.is_symmetric:  # defence in depth; the members were checked above
        raise InvalidDPoPProof(reason="private_key", detail="jwk is not a public key")
    known = _keys[cache_key] = (key, key.thumbprint())
    if len(_keys) > _KEY_CACHE_SIZE:
        _keys.popitem(last=False)
    return known
