"""Token verification: Ostiary's ``TokenVerifier.verify_sync`` against PyJWT and the floor.

For each algorithm, on the same tokens and with the same checks:

* **Ostiary**: ``TokenVerifier(issuer=..., audience=..., keys=[public key]).verify_sync``.
* **PyJWT**: ``jwt.decode`` given the ``cryptography`` public key object (or the secret bytes
  for HS256), ``algorithms=[alg]``, audience, issuer, ``leeway=30`` and
  ``require=[exp, iat, iss, aud, sub, jti]``: its fastest fair configuration.
* **floor**: the bare ``cryptography`` signature check of the same signing input (ES256's raw
  ``r||s`` converted to DER beforehand, outside the timed loop; HS256 is ``hmac.new(...)
  .digest()`` and ``hmac.compare_digest``). No parsing, no claims: what no verifier can beat.

Two modes. *distinct*: ``N`` pre-minted tokens with different ``jti``, each seen once per
repeat by a **new** ``TokenVerifier`` (default cache size, so every call is a cache miss that
also pays for storing its entry, as in production). *repeated*: one token over and over,
a cache hit for Ostiary (PyJWT has no cache; the floor has nothing to cache).

Each repeat interleaves the three contenders in blocks (see :func:`time_interleaved`); a
ratio or an overhead is computed within each repeat and the median over repeats is shown.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import itertools
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwt.algorithms import AllowedPublicKeys
from jwt.types import Options

from benchmarks._common import Target, median, ratio, render_table
from benchmarks.tokens import AUDIENCE, ISSUER, mint
from ostiary.jose import JWK
from ostiary.jose._b64 import b64url_decode
from ostiary.jose.algorithms import DEFAULT_RSA_BITS
from ostiary.resource import TokenVerifier

ALGORITHMS: Final = ("ES256", "EdDSA", "RS256", "HS256")
#: The algorithms whose ratios are targets; the others are reported only.
TARGET_ALGORITHMS: Final = ("ES256", "RS256")
DISTINCT_TARGET: Final = 1.2
REPEATED_TARGET: Final = 100.0
#: The repeated-token target holds for these only: for RS256 it was withdrawn (issue 11): the
#: cache is keyed by a hash of the whole token, and an RS256 token is long.
REPEATED_TARGET_ALGORITHMS: Final = ("ES256",)
#: On a cache miss Ostiary's time over the bare ``cryptography`` check, at most (issue 11):
#: the parsing and checks around the signature cost at most a third of it.
FLOOR_TARGET_ALGORITHMS: Final = ("ES256", "EdDSA")
FLOOR_TARGET: Final = 1.33
LEEWAY: Final = 30
PYJWT_OPTIONS: Final[Options] = {"require": ["exp", "iat", "iss", "aud", "sub", "jti"]}
CONTENDERS: Final = ("ostiary", "pyjwt", "floor")

Check = Callable[[bytes, bytes], None]
Loop = Callable[[], int]
T = TypeVar("T")
#: Blocks each contender's work per repeat is cut into (see :func:`time_interleaved`).
BLOCKS: Final = 20


@dataclass(frozen=True, slots=True)
class VerifyConfig:
    #: Distinct tokens per algorithm; each repeat verifies all of them once.
    distinct: int = 2000
    #: Calls per repeat on a repeated token, for PyJWT and the floor (no cache).
    repeated_uncached: int = 500
    #: Calls per repeat on a repeated token for Ostiary (cache hits: much cheaper).
    repeated_cached: int = 20_000
    repeats: int = 7
    algorithms: tuple[str, ...] = ALGORITHMS


QUICK: Final = VerifyConfig(distinct=300, repeated_uncached=100, repeated_cached=3000, repeats=5)


@dataclass(frozen=True, slots=True)
class Material:
    """One algorithm's keys as each contender takes them."""

    alg: str
    signer: JWK
    public: JWK
    pyjwt_key: AllowedPublicKeys | bytes
    #: Verifies a (signing input, signature in the form the primitive wants) pair or raises.
    floor: Check
    #: Turns a JWS signature into the primitive's form (ES256: raw r||s to DER).
    prepare: Callable[[bytes], bytes]


@dataclass(slots=True)
class Timings:
    """Seconds per verification, one value per repeat, for each contender."""

    alg: str
    mode: str
    #: How many different tokens each repeat verifies.
    tokens: int
    per_repeat: dict[str, list[float]] = field(
        default_factory=lambda: {name: [] for name in CONTENDERS}
    )

    def median_us(self, name: str) -> float:
        return median(self.per_repeat[name]) * 1e6

    def speed_ratio(self) -> float:
        """Ostiary's speed over PyJWT's (PyJWT's time / Ostiary's), median of the repeats."""
        pairs = zip(self.per_repeat["pyjwt"], self.per_repeat["ostiary"], strict=True)
        return median(p / o for p, o in pairs)

    def floor_ratio(self) -> float:
        """Ostiary's time over the floor's, median of the repeats."""
        pairs = zip(self.per_repeat["ostiary"], self.per_repeat["floor"], strict=True)
        return median(o / f for o, f in pairs)

    def over_floor_us(self, name: str) -> float:
        pairs = zip(self.per_repeat[name], self.per_repeat["floor"], strict=True)
        return median(t - f for t, f in pairs) * 1e6


@dataclass(frozen=True, slots=True)
class VerifyReport:
    timings: list[Timings]
    targets: list[Target]
    config: VerifyConfig

    def table(self, *, markdown: bool = False) -> str:
        headers = [
            "alg",
            "mode",
            "tokens",
            "Ostiary µs",
            "PyJWT µs",
            "floor µs",
            "Ostiary/PyJWT speed",
            "Ostiary over floor µs",
            "PyJWT over floor µs",
            "target",
        ]
        rows = []
        for t in self.timings:
            target = next((x for x in self.targets if x.name == _target_name(t)), None)
            rows.append(
                [
                    t.alg,
                    t.mode,
                    str(t.tokens),
                    _us(t.median_us("ostiary")),
                    _us(t.median_us("pyjwt")),
                    _us(t.median_us("floor")),
                    ratio(t.speed_ratio()) + "x",
                    _us(t.over_floor_us("ostiary"), signed=True),
                    _us(t.over_floor_us("pyjwt"), signed=True),
                    f">= {target.threshold:g} {target.verdict}" if target else "-",
                ]
            )
        return render_table(headers, rows, markdown=markdown)

    def header(self) -> str:
        c = self.config
        return (
            f"Verification, per token: median of {c.repeats} repeats "
            f"(distinct: {c.distinct} tokens, a new TokenVerifier each repeat; repeated: "
            f"{c.repeated_cached} calls for Ostiary, {c.repeated_uncached} for PyJWT and floor)"
        )


def _us(value: float, *, signed: bool = False) -> str:
    sign = "+" if signed and value >= 0 else ""
    if abs(value) >= 100:
        return f"{sign}{value:.0f}"
    if abs(value) >= 10:
        return f"{sign}{value:.1f}"
    return f"{sign}{value:.2f}"


def _target_name(t: Timings) -> str:
    return f"verify {t.alg} {t.mode}: Ostiary/PyJWT speed"


# --- keys -------------------------------------------------------------------------------


def _pem_pair(
    private: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey, alg: str
) -> tuple[JWK, JWK]:
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return JWK.from_pem(private_pem, alg=alg), JWK.from_pem(public_pem, alg=alg)


def _same(signature: bytes) -> bytes:
    return signature


def make_material(alg: str) -> Material:
    """Fresh keys for ``alg``, generated with ``cryptography`` and imported into Ostiary."""
    if alg == "ES256":
        ec_key = ec.generate_private_key(ec.SECP256R1())
        ec_public = ec_key.public_key()
        ecdsa = ec.ECDSA(hashes.SHA256())

        def es256(data: bytes, der: bytes) -> None:
            ec_public.verify(der, data, ecdsa)

        def to_der(raw: bytes) -> bytes:
            return encode_dss_signature(
                int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            )

        signer, public = _pem_pair(ec_key, alg)
        return Material(alg, signer, public, ec_public, es256, to_der)
    if alg == "EdDSA":
        ed_key = ed25519.Ed25519PrivateKey.generate()
        ed_public = ed_key.public_key()

        def eddsa(data: bytes, signature: bytes) -> None:
            ed_public.verify(signature, data)

        signer, public = _pem_pair(ed_key, alg)
        return Material(alg, signer, public, ed_public, eddsa, _same)
    if alg == "RS256":
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=DEFAULT_RSA_BITS)
        rsa_public = rsa_key.public_key()
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

        def rs256(data: bytes, signature: bytes) -> None:
            rsa_public.verify(signature, data, pkcs1, sha256)

        signer, public = _pem_pair(rsa_key, alg)
        return Material(alg, signer, public, rsa_public, rs256, _same)
    if alg == "HS256":
        secret = secrets.token_bytes(32)
        digest = hashlib.sha256

        def hs256(data: bytes, signature: bytes) -> None:
            if not hmac.compare_digest(hmac.new(secret, data, digest).digest(), signature):
                raise InvalidSignature

        key = JWK.from_secret(secret, alg=alg)
        return Material(alg, key, key, secret, hs256, _same)
    raise ValueError(f"no bench for {alg}")


def floor_item(material: Material, token: str) -> tuple[bytes, bytes]:
    """The signing input and the signature in the primitive's form (prepared once, untimed)."""
    raw = token.encode("ascii")
    signing_input, _, signature_b64 = raw.rpartition(b".")
    return signing_input, material.prepare(b64url_decode(signature_b64))


# --- timing -----------------------------------------------------------------------------


def _chunks(items: Sequence[T], count: int) -> list[Sequence[T]]:
    """``items`` cut into ``count`` consecutive blocks of (nearly) equal size."""
    count = max(1, min(count, len(items)))
    bounds = [len(items) * i // count for i in range(count + 1)]
    return [items[a:b] for a, b in itertools.pairwise(bounds)]


def time_interleaved(loops: dict[str, list[Loop]], first: int) -> dict[str, float]:
    """Seconds per call of each contender over one repeat.

    Each contender's work is cut into blocks, and the k-th blocks of all contenders run
    back to back (in an order that rotates from block to block), so that a burst of noise
    from another process on the machine falls on every contender alike. The collector is
    off while the repeat runs (as in ``timeit``), so that a collection triggered by one
    contender is not charged to another.
    """
    names = list(loops)
    blocks = len(next(iter(loops.values())))
    elapsed = dict.fromkeys(names, 0.0)
    calls = dict.fromkeys(names, 0)
    gc.collect()
    gc.disable()
    try:
        for k in range(blocks):
            shift = (first + k) % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                calls[name] += loops[name][k]()
                elapsed[name] += time.perf_counter() - start
    finally:
        gc.enable()
    return {name: elapsed[name] / calls[name] for name in names}


def _ostiary_loop(verifier: TokenVerifier, tokens: Sequence[str]) -> Callable[[], int]:
    def loop() -> int:
        verify = verifier.verify_sync
        for token in tokens:
            verify(token)
        return len(tokens)

    return loop


def _pyjwt_loop(material: Material, tokens: Sequence[str]) -> Callable[[], int]:
    def loop() -> int:
        decode, key, algorithms = jwt.decode, material.pyjwt_key, [material.alg]
        for token in tokens:
            decode(
                token,
                key,
                algorithms=algorithms,
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY,
                options=PYJWT_OPTIONS,
            )
        return len(tokens)

    return loop


def _floor_loop(material: Material, items: Sequence[tuple[bytes, bytes]]) -> Callable[[], int]:
    def loop() -> int:
        check = material.floor
        for signing_input, signature in items:
            check(signing_input, signature)
        return len(items)

    return loop


def new_verifier(material: Material) -> TokenVerifier:
    """A verifier as a resource server builds one: the public key, default cache size."""
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, keys=[material.public])


def pyjwt_decode(material: Material, token: str) -> dict[str, object]:
    return jwt.decode(
        token,
        material.pyjwt_key,
        algorithms=[material.alg],
        audience=AUDIENCE,
        issuer=ISSUER,
        leeway=LEEWAY,
        options=PYJWT_OPTIONS,
    )


def sanity_check(material: Material, token: str) -> None:
    """Every contender accepts the token and refuses it with a damaged signature: proof that
    each one really checks what it is timed checking. Raises on any surprise."""
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    if new_verifier(material).verify_sync(token).jti != jti:
        raise RuntimeError(f"{material.alg}: Ostiary returned other claims")
    if pyjwt_decode(material, token)["jti"] != jti:
        raise RuntimeError(f"{material.alg}: PyJWT returned other claims")
    material.floor(*floor_item(material, token))
    head, _, sig = token.rpartition(".")
    damaged = f"{head}.{'B' if sig[0] == 'A' else 'A'}{sig[1:]}"
    for name, attempt in (
        ("Ostiary", lambda: new_verifier(material).verify_sync(damaged)),
        ("PyJWT", lambda: pyjwt_decode(material, damaged)),
        ("floor", lambda: material.floor(*floor_item(material, damaged))),
    ):
        try:
            attempt()
        except Exception:  # any refusal will do
            continue
        raise RuntimeError(f"{material.alg}: {name} accepted a damaged signature")


def bench_algorithm(
    alg: str, config: VerifyConfig, log: Callable[[str], None]
) -> tuple[Timings, Timings]:
    started = time.perf_counter()
    material = make_material(alg)
    tokens = mint(material.signer, config.distinct)
    if len(set(tokens)) != len(tokens):
        raise RuntimeError("minted tokens are not distinct")
    sanity_check(material, tokens[0])
    floor_items = [floor_item(material, t) for t in tokens]
    log(f"  {alg}: keys and {len(tokens)} tokens ready in {time.perf_counter() - started:.1f} s")

    repeated_token = mint(material.signer, 1)[0]
    cached = new_verifier(material)
    cached.verify_sync(repeated_token)  # from here on, every call is a cache hit
    repeated_cached = [repeated_token] * config.repeated_cached
    repeated_uncached = [repeated_token] * config.repeated_uncached
    repeated_floor = [floor_item(material, repeated_token)] * config.repeated_uncached

    distinct = Timings(alg, "distinct", config.distinct)
    repeated = Timings(alg, "repeated", 1)
    # Warm-up: one untimed pass of each loop on a few tokens.
    _pyjwt_loop(material, tokens[:20])()
    _floor_loop(material, floor_items[:20])()
    _ostiary_loop(new_verifier(material), tokens[:20])()

    for repeat in range(config.repeats):
        fresh = new_verifier(material)  # has seen none of the tokens: every call is a miss
        distinct_loops = {
            "ostiary": [_ostiary_loop(fresh, b) for b in _chunks(tokens, BLOCKS)],
            "pyjwt": [_pyjwt_loop(material, b) for b in _chunks(tokens, BLOCKS)],
            "floor": [_floor_loop(material, b) for b in _chunks(floor_items, BLOCKS)],
        }
        repeated_loops = {
            "ostiary": [_ostiary_loop(cached, b) for b in _chunks(repeated_cached, BLOCKS)],
            "pyjwt": [_pyjwt_loop(material, b) for b in _chunks(repeated_uncached, BLOCKS)],
            "floor": [_floor_loop(material, b) for b in _chunks(repeated_floor, BLOCKS)],
        }
        for timings, loops in ((distinct, distinct_loops), (repeated, repeated_loops)):
            for name, seconds in time_interleaved(loops, repeat).items():
                timings.per_repeat[name].append(seconds)
        if len(fresh.cache) != len(tokens):
            raise RuntimeError("the distinct-token verifier did not miss its cache every time")
    if len(cached.cache) != 1:
        raise RuntimeError("the repeated-token verifier cached more than one token")
    log(
        f"  {alg}: distinct {distinct.speed_ratio():.2f}x, repeated {repeated.speed_ratio():.1f}x"
        f" PyJWT's speed ({time.perf_counter() - started:.1f} s)"
    )
    return distinct, repeated


def run(config: VerifyConfig, log: Callable[[str], None] = print) -> VerifyReport:
    timings: list[Timings] = []
    targets: list[Target] = []
    for alg in config.algorithms:
        distinct, repeated = bench_algorithm(alg, config, log)
        timings += [distinct, repeated]
        if alg in TARGET_ALGORITHMS:
            targets.append(Target(_target_name(distinct), distinct.speed_ratio(), DISTINCT_TARGET))
        if alg in REPEATED_TARGET_ALGORITHMS:
            targets.append(Target(_target_name(repeated), repeated.speed_ratio(), REPEATED_TARGET))
        if alg in FLOOR_TARGET_ALGORITHMS:
            name = f"verify {alg} distinct: Ostiary's time / the cryptography floor's"
            targets.append(Target(name, distinct.floor_ratio(), FLOOR_TARGET, below=True))
    return VerifyReport(timings, targets, config)
