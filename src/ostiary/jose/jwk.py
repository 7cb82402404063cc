"""JSON Web Keys (RFC 7517) bound to exactly one algorithm.

A :class:`JWK` pairs a joserfc key with the one algorithm it may be used with (RFC 8725 §3.1) and
a ``kid``, by default the RFC 7638 thumbprint. Loading refuses weak or mismatched keys: RSA under
2048 bits, a curve that is not the algorithm's, and HMAC secrets shorter than the hash output
(RFC 7518 §3.2) or that look like a public key in PEM or JWK form (the algorithm-confusion
family of CVE-2022-29217 and CVE-2024-33663).
"""

from __future__ import annotations

import json
import secrets
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from ostiary.errors import InvalidKey
from ostiary.jose._b64 import b64url_decode
from ostiary.jose.algorithms import DEFAULT_RSA_BITS, MIN_RSA_BITS, AlgorithmSpec, spec_for

_JoseKey = ECKey | OKPKey | RSAKey | OctKey
_KEY_CLASSES: Final[dict[str, type[_JoseKey]]] = {
    "EC": ECKey,
    "OKP": OKPKey,
    "RSA": RSAKey,
    "oct": OctKey,
}
PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# Markers of key material in text form that must never become an HMAC secret.
_KEY_TEXT_MARKERS: Final = (b"-----BEGIN", b"---- BEGIN", b"ssh-", b"ecdsa-sha2-", b'"kty"')
# JWK members that describe the key itself; anything else is dropped on import.
_KEY_MEMBERS: Final = frozenset({"kty", "crv", "x", "y", "n", "e", "k"}) | PRIVATE_MEMBERS


class JWK:
    """One key, one algorithm, one ``kid``. Immutable once built."""

    __slots__ = ("_algorithm", "_ecdsa", "_key", "_public", "_verify", "alg", "kid")

    def __init__(self, key: _JoseKey, *, alg: str, kid: str | None = None) -> None:
        spec = _checked_spec(alg)
        _check_strength(key, spec)
        self._key = key
        self.alg = alg
        self.kid = kid if kid is not None else key.thumbprint()
        self._public: JWK | None = None
        # joserfc's implementation of the one algorithm this key is bound to. Looked up once:
        # the registry warns on every lookup of EdDSA, which RFC 9864 renames but which is still
        # the name every JOSE library and the clients understand.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)
            self._algorithm = JWSRegistry(algorithms=[alg]).get_alg(alg)
        try:
            self._algorithm.check_key(key)
        except JoseError as exc:
            raise InvalidKey(f"the key does not fit {alg}: {exc}") from exc
        self._ecdsa = _ecdsa_signer(key, alg)
        self._verify = _direct_verifier(key, alg)

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def generate(cls, alg: str, *, rsa_bits: int = DEFAULT_RSA_BITS) -> JWK:
        """A fresh private key for ``alg`` with its thumbprint as ``kid``."""
        spec = _checked_spec(alg)
        key: _JoseKey
        if spec.kty == "EC":
            key = ECKey.generate_key(spec.curves[0])
        elif spec.kty == "OKP":
            key = OKPKey.generate_key("Ed25519")
        elif spec.kty == "RSA":
            if rsa_bits < MIN_RSA_BITS:
                raise InvalidKey(f"RSA keys must have at least {MIN_RSA_BITS} bits")
            key = RSAKey.generate_key(rsa_bits)
        else:
            key = OctKey.import_key(secrets.token_bytes(spec.min_size))
        return cls(key, alg=alg)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, alg: str | None = None) -> JWK:
        """Import a JWK document. Its ``alg`` wins; else ``alg`` given here; else inferred
        where only one algorithm fits (EC P-256 → ES256, OKP → EdDSA)."""
        if not isinstance(data, Mapping):
            raise InvalidKey("a JWK must be a JSON object")
        kty = data.get("kty")
        key_cls = _KEY_CLASSES.get(kty) if isinstance(kty, str) else None
        if key_cls is None:
            raise InvalidKey(f"unsupported key type {kty!r}")
        declared = data.get("alg")
        if declared is not None and alg is not None and declared != alg:
            raise InvalidKey(f"key declares alg {declared!r}, expected {alg!r}")
        chosen = declared if declared is not None else alg
        if chosen is None:
            chosen = _infer_alg(data)
        if not isinstance(chosen, str):
            raise InvalidKey("the key's alg must be a string")
        if kty == "oct":
            k = data.get("k")
            if not isinstance(k, str):
                raise InvalidKey("an oct key needs its 'k' member")
            return cls.from_secret(_b64url_decode(k), alg=chosen, kid=_kid_of(data))
        material = {name: value for name, value in data.items() if name in _KEY_MEMBERS}
        # joserfc only warns about a weak key (RSA under 2048 bits); make that a refusal.
        with warnings.catch_warnings():
            warnings.simplefilter("error", SecurityWarning)
            try:
                key = key_cls.import_key(material)
            except (JoseError, ValueError, TypeError, KeyError, SecurityWarning) as exc:
                raise InvalidKey(f"malformed {kty} key: {exc}") from exc
        return cls(key, alg=chosen, kid=_kid_of(data))

    @classmethod
    def from_pem(
        cls, data: bytes | str, *, alg: str, kid: str | None = None, password: bytes | None = None
    ) -> JWK:
        """Import a PEM public or private key (SPKI, PKCS#8, PKCS#1, SEC1) for ``alg``."""
        spec = _checked_spec(alg)
        if spec.kty == "oct":
            raise InvalidKey("PEM text is never an HMAC secret")
        raw = data.encode() if isinstance(data, str) else data
        with warnings.catch_warnings():
            warnings.simplefilter("error", SecurityWarning)
            try:
                key = _KEY_CLASSES[spec.kty].import_key(raw, password=password)
            except SecurityWarning as exc:  # joserfc only warns of a weak key (RSA < 2048 bits)
                raise InvalidKey(f"the key is too weak for {alg}: {exc}") from exc
            except (JoseError, ValueError, TypeError) as exc:
                raise InvalidKey(f"not a {spec.kty} key in PEM form") from exc
        return cls(key, alg=alg, kid=kid)

    @classmethod
    def from_secret(cls, secret: bytes | str, *, alg: str = "HS256", kid: str | None = None) -> JWK:
        """An HMAC key. Refuses secrets shorter than the hash output and anything that looks
        like key material in text form (PEM, SSH, JWK JSON)."""
        spec = _checked_spec(alg)
        if spec.kty != "oct":
            raise InvalidKey(f"{alg} does not take a shared secret")
        raw = secret.encode() if isinstance(secret, str) else bytes(secret)
        if any(marker in raw for marker in _KEY_TEXT_MARKERS) or _is_json_object(raw):
            raise InvalidKey("key material in PEM, SSH or JWK form is never an HMAC secret")
        if len(raw) < spec.min_size:
            raise InvalidKey(f"{alg} needs a secret of at least {spec.min_size} bytes")
        with warnings.catch_warnings():
            warnings.simplefilter("error", SecurityWarning)
            try:
                key = OctKey.import_key(raw)
            except (JoseError, ValueError, SecurityWarning) as exc:
                raise InvalidKey("the secret looks like asymmetric key material") from exc
        return cls(key, alg=alg, kid=kid)

    # --- operations ------------------------------------------------------------------------

    def sign(self, signing_input: bytes) -> bytes:
        """The JWS signature of ``signing_input`` (RFC 7515 §5.1 step 5)."""
        if self._ecdsa is not None:
            return self._ecdsa(signing_input)
        if not self.is_private:
            raise InvalidKey("signing needs a private key")
        return bytes(self._algorithm.sign(signing_input, self._key))

    def verify_signature(self, signing_input: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``signing_input``."""
        try:
            verify = self._verify
            if verify is not None:
                return verify(signing_input, signature)
            return bool(self._algorithm.verify(signing_input, signature, self._key))
        except (JoseError, ValueError, TypeError):
            return False

    # --- views -----------------------------------------------------------------------------

    @property
    def kty(self) -> str:
        return self._key.key_type

    @property
    def is_private(self) -> bool:
        return bool(self._key.is_private)

    @property
    def is_symmetric(self) -> bool:
        return self.kty == "oct"

    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
        return str(self._key.thumbprint())

    def public_dict(self) -> dict[str, Any]:
        """The public JWK with ``kid``, ``alg`` and ``use: sig``; never a private member."""
        if self.is_symmetric:
            raise InvalidKey("a symmetric key has no public form")
        out = {k: v for k, v in self._key.as_dict(private=False).items() if k in _KEY_MEMBERS}
        if PRIVATE_MEMBERS & out.keys():  # defence in depth: never publish private material
            raise InvalidKey("refusing to publish private key material")
        return {**out, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def private_dict(self) -> dict[str, Any]:
        """The full JWK, private members included: for encrypted storage only."""
        if not self.is_private:
            raise InvalidKey("this key has no private part")
        out = {k: v for k, v in self._key.as_dict(private=True).items() if k in _KEY_MEMBERS}
        return {**out, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public(self) -> JWK:
        """The same key without its private part (a symmetric key is returned as it is)."""
        if self.is_symmetric or not self.is_private:
            return self
        if self._public is None:  # built once: importing a key is slow, and this is a hot path
            self._public = JWK.from_dict(self.public_dict())
        return self._public

    def __repr__(self) -> str:  # never shows key material
        kind = "private" if self.is_private else "public"
        return f"JWK(kid={self.kid!r}, alg={self.alg!r}, kty={self.kty!r}, {kind})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JWK):
            return NotImplemented
        return (self.kid, self.alg, self.thumbprint()) == (other.kid, other.alg, other.thumbprint())

    def __hash__(self) -> int:
        return hash((self.kid, self.alg))


class JWKSet:
    """Keys by ``kid``; the only way a verifier finds a key (never from a token's header)."""

    __slots__ = ("_by_kid",)

    def __init__(self, keys: Iterable[JWK] = ()) -> None:
        self._by_kid: dict[str, JWK] = {}
        for key in keys:
            if key.kid in self._by_kid:
                raise InvalidKey(f"two keys share the kid {key.kid!r}")
            self._by_kid[key.kid] = key

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], *, skip_invalid: bool = False) -> JWKSet:
        """Import a JWKS document ``{"keys": [...]}`` (RFC 7517 §5).

        Keys for encryption (``use: enc``) are left out. With ``skip_invalid`` a key that cannot
        be used is left out instead of failing the whole set, as a remote JWKS may hold keys
        for other algorithms or uses.
        """
        entries = document.get("keys") if isinstance(document, Mapping) else None
        if not isinstance(entries, list):
            raise InvalidKey("a JWKS document is an object with a 'keys' array")
        keys: list[JWK] = []
        for entry in entries:
            if isinstance(entry, Mapping) and entry.get("use", "sig") != "sig":
                continue
            try:
                keys.append(JWK.from_dict(entry))
            except InvalidKey:
                if not skip_invalid:
                    raise
        if skip_invalid:
            unique: dict[str, JWK] = {}
            for key in keys:
                unique.setdefault(key.kid, key)
            keys = list(unique.values())
        return cls(keys)

    def get(self, kid: str | None) -> JWK | None:
        """The key with this ``kid``; a token without ``kid`` matches only a set of one."""
        if kid is None:
            return next(iter(self._by_kid.values())) if len(self._by_kid) == 1 else None
        return self._by_kid.get(kid)

    def __iter__(self) -> Iterator[JWK]:
        return iter(self._by_kid.values())

    def __len__(self) -> int:
        return len(self._by_kid)

    def __contains__(self, kid: object) -> bool:
        return kid in self._by_kid

    def public_document(self) -> dict[str, Any]:
        """The JWKS document of the asymmetric keys, public members only."""
        return {"keys": [k.public_dict() for k in self._by_kid.values() if not k.is_symmetric]}


def _ecdsa_signer(key: _JoseKey, alg: str) -> Callable[[bytes], bytes] | None:
    """For a private EC key, the JWS signature (RFC 7518 §3.4: R and S, each the curve's
    size, big-endian) straight from ``cryptography``, as joserfc computes it, without its
    per-call key and hash lookups: signing is on every token the server issues."""
    hash_type = _ECDSA_HASHES.get(alg)
    if hash_type is None or not isinstance(key, ECKey) or not key.is_private:
        return None
    private = key.private_key
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        return None
    size = (private.curve.key_size + 7) // 8
    algorithm = ec.ECDSA(hash_type())

    def sign(signing_input: bytes) -> bytes:
        r, s = decode_dss_signature(private.sign(signing_input, algorithm))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    return sign


_ECDSA_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "ES256": hashes.SHA256,
    "ES384": hashes.SHA384,
    "ES512": hashes.SHA512,
}
#: The order n of each curve's base point (SEC 2 §2.4.2, §2.5.1, §2.6.1), by ``cryptography``'s
#: curve name: a signature's R and S must lie in [1, n-1] (FIPS 186-5 §6.4.2 step 1).
_CURVE_ORDERS: Final[dict[str, int]] = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
        "581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
    "secp521r1": int(
        "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
        "FFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
}
#: RFC 8032 §5.1.6 and §5.2.6: an Ed25519 signature is 64 bytes, an Ed448 one 114.
_EDDSA_SIGNATURE_SIZES: Final = {"Ed25519": 64, "Ed448": 114}


def _direct_verifier(key: _JoseKey, alg: str) -> Callable[[bytes, bytes], bool] | None:
    """For an EC or OKP key, the JWS signature check straight from ``cryptography``, as
    joserfc does it but without its per-call key and hash lookups: every token a service
    accepts pays for it. None for the other keys, which joserfc checks.

    ES256/ES384 (RFC 7518 §3.4): the signature is R and S, each exactly the curve's size,
    big-endian; anything of another length is refused, and so are R or S of 0 or not below
    the curve order (the "psychic signatures" of CVE-2022-21449) before ``cryptography`` sees
    them. EdDSA (RFC 8037 §3.1): a signature of RFC 8032's length, checked by ``cryptography``.
    """
    hash_type = _ECDSA_HASHES.get(alg)
    if hash_type is not None and isinstance(key, ECKey):
        public = key.public_key
        order = _CURVE_ORDERS.get(public.curve.name)
        if order is None:
            return None
        return _ecdsa_verifier(public, (public.curve.key_size + 7) // 8, order, hash_type())
    if isinstance(key, OKPKey):
        okp_public = key.public_key
        if not isinstance(okp_public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            return None
        return _eddsa_verifier(okp_public, _EDDSA_SIGNATURE_SIZES[key.curve_name])
    return None


def _ecdsa_verifier(
    public: ec.EllipticCurvePublicKey, size: int, order: int, hash_algorithm: hashes.HashAlgorithm
) -> Callable[[bytes, bytes], bool]:
    algorithm = ec.ECDSA(hash_algorithm)
    length = 2 * size
    from_bytes = int.from_bytes
    check = public.verify

    def verify(signing_input: bytes, signature: bytes) -> bool:
        if len(signature) != length:
            return False
        r = from_bytes(signature[:size], "big")
        s = from_bytes(signature[size:], "big")
        if not (0 < r < order and 0 < s < order):
            return False
        try:
            check(encode_dss_signature(r, s), signing_input, algorithm)
        except InvalidSignature:
            return False
        return True

    return verify


def _eddsa_verifier(
    public: ed25519.Ed25519PublicKey | ed448.Ed448PublicKey, length: int
) -> Callable[[bytes, bytes], bool]:
    check = public.verify

    def verify(signing_input: bytes, signature: bytes) -> bool:
        if len(signature) != length:
            return False
        try:
            check(signature, signing_input)
        except InvalidSignature:
            return False
        return True

    return verify


def _checked_spec(alg: str) -> AlgorithmSpec:
    try:
        return spec_for(alg)
    except (KeyError, TypeError):
        raise InvalidKey(f"algorithm {alg!r} is not allowed") from None


def _check_strength(key: _JoseKey, spec: AlgorithmSpec) -> None:
    if key.key_type != spec.kty:
        raise InvalidKey(f"{spec.name} needs a {spec.kty} key, not {key.key_type}")
    if isinstance(key, ECKey | OKPKey) and key.curve_name not in spec.curves:
        raise InvalidKey(f"{spec.name} needs curve {' or '.join(spec.curves)}")
    if isinstance(key, RSAKey) and key.public_key.key_size < spec.min_size:
        raise InvalidKey(f"{spec.name} needs an RSA key of at least {spec.min_size} bits")
    if isinstance(key, OctKey) and len(key.raw_value) < spec.min_size:
        raise InvalidKey(f"{spec.name} needs a secret of at least {spec.min_size} bytes")


def _infer_alg(data: Mapping[str, Any]) -> str:
    kty, crv = data.get("kty"), data.get("crv")
    if kty == "EC" and crv == "P-256":
        return "ES256"
    if kty == "EC" and crv == "P-384":
        return "ES384"
    if kty == "OKP" and crv in ("Ed25519", "Ed448"):
        return "EdDSA"
    raise InvalidKey(f"the key (kty {kty!r}) must say which algorithm it is for ('alg')")


def _is_json_object(raw: bytes) -> bool:
    """Whether ``raw`` is JSON object text (a JWK pasted where a secret belongs). A random
    secret that merely starts with ``{`` is not."""
    if not raw.lstrip().startswith(b"{"):
        return False
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False


def _kid_of(data: Mapping[str, Any]) -> str | None:
    kid = data.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise InvalidKey("'kid' must be a string")
    return kid


def _b64url_decode(value: str) -> bytes:
    try:
        return b64url_decode(value.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise InvalidKey("'k' is not canonical base64url without padding") from exc
