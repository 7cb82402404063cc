"""DPoP (RFC 9449): a DPoP-bound token with a fresh proof on every request against a bearer
token (issue 13 §4), over HTTP and step by step in-process.

**HTTP**, measured as :mod:`benchmarks.http` measures (its server, load generator, CPU pinning
and server CPU time from ``/proc``): one server process, the one-route FastAPI app of
:mod:`benchmarks._server` behind ``install(app, verifier, public_url=PUBLIC_URL)``, takes two
loads in each round: *Bearer*, one repeated token (a verifier cache hit after the first
request); *DPoP*, one repeated DPoP-bound token (``cnf.jkt``, issued by Ostiary's own
``AccessTokenIssuer``), each request with a proof the server has never seen (made beforehand,
each with its own ``jti`` and ``ath``, ``iat`` the time they were made: right before that
measurement, well inside the 60 s + 5 s window a proof is accepted in). Both tokens come from
the same issuer and differ only by ``cnf``. The same server serves both, so the request is the
only difference. Rounds alternate their order; figures are medians over rounds, ratios are
computed within a round. The server's replay cache holds 100 000 ``jti`` for 65 s each: at
the default sizes a round sends 13 000 proofs, so up to about six rounds a minute fit.

**In-process**, the steps of ``TokenVerifier.verify_dpop`` (the coroutine the middleware
awaits, driven here without an event loop: nothing in it suspends) on distinct proofs by one
client key, each timed by calling what ``verify_dpop`` calls, interleaved in blocks as
:mod:`benchmarks.verify` does; beside them the bare ``cryptography`` ES256 check of the
proof's signature (R‖S turned into DER beforehand, untimed): the floor. The steps that are
code inside another function (the claims checks; the calls between the steps) are shown by
difference. The target holds ``verify_dpop`` to the standard issue 11 set for a bearer token's
verification: at most 1.33x the floor, i.e. all the work around the one signature check that
a proof costs is at most a third of it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

from benchmarks import http
from benchmarks._common import Target, median, ratio, render_table
from benchmarks._server import PATH, build_app
from benchmarks.http import HttpConfig, Measurement, Server, cpu_plan, placement, run_load
from benchmarks.tokens import AUDIENCE, ISSUER, LIFETIME
from benchmarks.verify import (
    BLOCKS,
    FLOOR_TARGET,
    Material,
    _chunks,
    floor_item,
    make_material,
    time_interleaved,
)
from ostiary.dpop import DPoPChecker, DPoPProof, MemoryReplayCache
from ostiary.errors import InvalidDPoPProof, InvalidToken
from ostiary.jose import DEFAULT_ALGORITHM, JWK, JWKSet
from ostiary.jose._json import strict_loads
from ostiary.jose.dpop import (
    DEFAULT_PROOF_RULES,
    DPOP_TYP,
    _normalized,
    _proof_key,
    access_token_hash,
    make_proof,
    verify_proof,
)
from ostiary.jose.jws import ParsedJWS, parse_compact
from ostiary.resource import TokenVerifier
from ostiary.resource.verifier import DPOP_REPLAY_SCOPE, _check_binding
from ostiary.tokens.access import AccessTokenIssuer

#: The URL clients reach the app at (``install(..., public_url=...)``), as behind a proxy.
PUBLIC_URL: Final = "https://orders.bench.example"
URL: Final = PUBLIC_URL + PATH
METHOD: Final = "GET"
ALG: Final = "ES256"
SCOPE: Final = "orders:read orders:write"

BEARER: Final = "Bearer, repeated token"
DPOP: Final = "DPoP, repeated token, distinct proofs"
VARIANTS: Final = (BEARER, DPOP)

T = TypeVar("T")


#: The HTTP measurements; ``distinct_warmup + distinct_requests`` proofs are made for each
#: DPoP measurement (its request bound).
HTTP_CONFIG: Final = HttpConfig(distinct_requests=12_000)


@dataclass(frozen=True, slots=True)
class DPoPConfig:
    http: HttpConfig = HTTP_CONFIG
    #: Distinct proofs verified per repeat in-process.
    proofs: int = 2000
    #: Keys never seen before, imported per repeat (the first proof of a client).
    fresh_keys: int = 200
    #: Calls per repeat of the cache hits (the token step, and Bearer for reference).
    hits: int = 20_000
    repeats: int = 7


QUICK: Final = DPoPConfig(http=http.QUICK, proofs=300, fresh_keys=40, hits=3000, repeats=5)


# --- in-process steps ---------------------------------------------------------------------

TOTAL: Final = "verify_dpop"
TOKEN: Final = "token: verified-token cache hit"
PARSE: Final = "proof: parse + header checks"
KEY: Final = "proof key: import, cached"
SIGNATURE: Final = "proof: ES256 signature"
PROOF: Final = "verify_proof"
CLAIMS_JSON: Final = "claims JSON"
HTU: Final = "htu and request URL normalized"
ATH: Final = "ath: SHA-256 of the token"
BINDING: Final = "cnf.jkt = proof key"
REPLAY: Final = "replay cache: jti first use"
FRESH_KEY: Final = "proof key: import, new key"
SYNC: Final = "verify_dpop_sync"
BEARER_HIT: Final = "Bearer verify, cache hit"
FLOOR: Final = "floor"
APP_BEARER: Final = "the app, Bearer"
APP_DPOP: Final = "the app, DPoP"
APP_VERIFY: Final = "the app, DPoP: verify_dpop"
STEPS: Final = (
    TOTAL,
    TOKEN,
    PARSE,
    KEY,
    SIGNATURE,
    PROOF,
    CLAIMS_JSON,
    HTU,
    ATH,
    BINDING,
    REPLAY,
    FRESH_KEY,
    SYNC,
    BEARER_HIT,
    FLOOR,
    APP_BEARER,
    APP_DPOP,
    APP_VERIFY,
)


@dataclass(slots=True)
class StepTimings:
    """Seconds per call of each step, one value per repeat."""

    per_repeat: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in STEPS})

    def us(self, name: str) -> float:
        return median(self.per_repeat[name]) * 1e6

    def less_us(self, name: str, *parts: str) -> float:
        """``name``'s time less the sum of ``parts``, within each repeat; the median, in µs."""
        rows = zip(*(self.per_repeat[n] for n in (name, *parts)), strict=True)
        return median(row[0] - sum(row[1:]) for row in rows) * 1e6

    def ratio(self, name: str, base: str) -> float:
        pairs = zip(self.per_repeat[name], self.per_repeat[base], strict=True)
        return median(a / b for a, b in pairs)


def _drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (in-memory caches, keys given up front) to its end
    without an event loop, as an event loop runs it but for the loop's own overhead."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError("the coroutine suspended: it waited for I/O")


@dataclass(frozen=True, slots=True)
class Client:
    """A DPoP client: its key and the tokens an issuer gave it."""

    key: JWK
    bound_token: str
    bearer_token: str


def issue_tokens(signing_key: JWK, client_key: JWK) -> tuple[str, str]:
    """A bearer token and a token bound to ``client_key`` (``cnf.jkt``), alike but for ``cnf``."""
    issuer = AccessTokenIssuer(lambda: signing_key, issuer=ISSUER, audience=AUDIENCE, ttl=LIFETIME)

    def issue(jkt: str | None) -> str:
        return issuer.issue(
            subject="user-7f3a9c", client_id="bench-client", scope=SCOPE, dpop_jkt=jkt
        ).token

    return issue(None), issue(client_key.thumbprint())


def make_proofs(key: JWK, access_token: str, count: int) -> list[str]:
    """``count`` proofs for ``GET URL`` with ``ath``, distinct ``jti``, ``iat`` now."""
    iat = int(time.time())
    proofs = [
        make_proof(
            key,
            method=METHOD,
            url=URL,
            jti=secrets.token_urlsafe(16),
            iat=iat,
            access_token=access_token,
        )
        for _ in range(count)
    ]
    if len(set(proofs)) != count:
        raise RuntimeError("the proofs are not distinct")
    return proofs


def new_verifier(signing_key: JWK) -> TokenVerifier:
    """A resource server's verifier: the issuer's public key, the default DPoP checker (its
    own in-memory replay cache)."""
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, keys=[signing_key.public()])


def _public_jwk(key: JWK) -> dict[str, Any]:
    return {k: v for k, v in key.public_dict().items() if k not in ("kid", "alg", "use")}


def in_process_sanity_check(signing_key: JWK, client: Client, material: Material) -> None:
    """Each thing timed really checks: ``verify_dpop`` accepts a proof once, refuses it again,
    refuses a damaged signature and the bound token as a bearer token; the floor refuses a
    damaged signature too."""
    verifier = new_verifier(signing_key)
    token = client.bound_token
    good, other = make_proofs(client.key, token, 2)
    claims = _drive(verifier.verify_dpop(token, good, method=METHOD, url=URL))
    if claims.dpop_jkt != client.key.thumbprint():
        raise RuntimeError("verify_dpop returned other claims")
    damaged = _damaged(other)
    attempts: list[tuple[str, Callable[[], Coroutine[Any, Any, object]]]] = [
        ("a replayed proof", lambda: verifier.verify_dpop(token, good, method=METHOD, url=URL)),
        ("a damaged proof", lambda: verifier.verify_dpop(token, damaged, method=METHOD, url=URL)),
        ("the bound token as Bearer", lambda: verifier.verify(token)),
    ]
    for name, attempt in attempts:
        try:
            _drive(attempt())
        except (InvalidDPoPProof, InvalidToken):
            continue
        raise RuntimeError(f"verify_dpop accepted {name}")
    material.floor(*floor_item(material, other))
    try:
        material.floor(*floor_item(material, damaged))
    except Exception:  # any refusal will do
        return
    raise RuntimeError("the floor accepted a damaged signature")


def _damaged(token: str) -> str:
    """``token`` with the first character of its signature changed."""
    head, _, sig = token.rpartition(".")
    return f"{head}.{'B' if sig[0] == 'A' else 'A'}{sig[1:]}"


Loop = Callable[[], int]


def _each(items: Sequence[T], work: Callable[[T], object]) -> list[Loop]:
    """The blocks of one step: ``work`` called on each item of a block."""

    def loop_of(block: Sequence[T]) -> Loop:
        def loop() -> int:
            for item in block:
                work(item)
            return len(block)

        return loop

    return [loop_of(block) for block in _chunks(items, BLOCKS)]


def bench_steps(
    config: DPoPConfig, log: Callable[[str], None]
) -> tuple[StepTimings, dict[str, int]]:
    started = time.perf_counter()
    material = make_material(ALG)  # the client's key, and the floor's view of it
    signing_key = JWK.generate(DEFAULT_ALGORITHM)
    bearer_token, bound_token = issue_tokens(signing_key, material.signer)
    client = Client(material.signer, bound_token, bearer_token)
    in_process_sanity_check(signing_key, client, material)
    rules = DEFAULT_PROOF_RULES
    hits = new_verifier(signing_key)  # sees each token once untimed: every timed call a hit
    _drive(
        hits.verify_dpop(
            bound_token, make_proofs(client.key, bound_token, 1), method=METHOD, url=URL
        )
    )
    _drive(hits.verify(bearer_token))
    proof_key, _ = _proof_key(_public_jwk(client.key), ALG)
    claims = _drive(hits._bound_claims(bound_token))

    def total(verifier: TokenVerifier) -> Callable[[str], object]:
        def call(proof: str) -> object:
            return _drive(verifier.verify_dpop(bound_token, proof, method=METHOD, url=URL))

        return call

    def total_sync(verifier: TokenVerifier) -> Callable[[str], object]:
        def call(proof: str) -> object:
            return verifier.verify_dpop_sync(bound_token, proof, method=METHOD, url=URL)

        return call

    def parse(proof: str) -> object:
        parsed = parse_compact(proof, max_size=rules.max_size, embedded_key=True)
        if parsed.header.get("typ") != DPOP_TYP or parsed.alg not in rules.algorithms:
            raise RuntimeError("a proof failed its header checks")
        return parsed

    def key_import(parsed: ParsedJWS) -> object:
        return _proof_key(parsed.header["jwk"], parsed.alg)

    def new_key_import(jwk: dict[str, Any]) -> object:
        return _proof_key(jwk, ALG)

    def signature(parsed: ParsedJWS) -> object:
        if not proof_key.verify_signature(parsed.signing_input, parsed.signature):
            raise RuntimeError("a proof's signature did not verify")
        return None

    def proof_checks(proof: str) -> DPoPProof:
        return verify_proof(
            proof, method=METHOD, url=URL, now=time.time(), rules=rules, access_token=bound_token
        )

    def claims_json(parsed: ParsedJWS) -> object:
        return strict_loads(parsed.payload)

    def htu(proof: DPoPProof) -> object:
        return _normalized(proof.htu) == _normalized(URL)

    def ath(token: str) -> object:
        return access_token_hash(token)

    def binding(proof: DPoPProof) -> object:
        _check_binding(claims, proof.jkt)
        return None

    def replay(checker: DPoPChecker) -> Callable[[DPoPProof], object]:
        def call(proof: DPoPProof) -> object:
            return _drive(checker.remember(proof))

        return call

    def token_hit(token: str) -> object:
        return _drive(hits._bound_claims(token))

    def bearer_hit(token: str) -> object:
        return _drive(hits.verify(token))

    def floor(item: tuple[bytes, bytes]) -> object:
        material.floor(*item)
        return None

    hit_tokens = [bound_token] * config.hits
    timings = StepTimings()
    # Warm-up: one untimed pass of the proof checks.
    for proof in make_proofs(client.key, bound_token, 20):
        proof_checks(proof)
    log(f"  in-process: keys, tokens and checks ready in {time.perf_counter() - started:.1f} s")
    sizes = {"proof": 0, "token": len(bound_token)}
    for repeat in range(config.repeats):
        proofs = make_proofs(client.key, bound_token, config.proofs)
        sizes["proof"] = len(proofs[0])
        parsed = [parse_compact(p, max_size=rules.max_size, embedded_key=True) for p in proofs]
        checked = [proof_checks(p) for p in proofs]
        remembered = DPoPChecker(MemoryReplayCache(), scope=DPOP_REPLAY_SCOPE)
        fresh_jwks = [_public_jwk(JWK.generate(ALG)) for _ in range(config.fresh_keys)]
        async_verifier, sync_verifier = new_verifier(signing_key), new_verifier(signing_key)
        for verifier in (async_verifier, sync_verifier):  # the token cached, the key known
            warm = make_proofs(client.key, bound_token, 1)[0]
            verifier.verify_dpop_sync(bound_token, warm, method=METHOD, url=URL)

        loops = {
            TOTAL: _each(proofs, total(async_verifier)),
            TOKEN: _each(hit_tokens, token_hit),
            PARSE: _each(proofs, parse),
            KEY: _each(parsed, key_import),
            SIGNATURE: _each(parsed, signature),
            PROOF: _each(proofs, proof_checks),
            CLAIMS_JSON: _each(parsed, claims_json),
            HTU: _each(checked, htu),
            ATH: _each([bound_token] * config.proofs, ath),
            BINDING: _each(checked, binding),
            REPLAY: _each(checked, replay(remembered)),
            FRESH_KEY: _each(fresh_jwks, new_key_import),
            SYNC: _each(proofs, total_sync(sync_verifier)),
            BEARER_HIT: _each([bearer_token] * config.hits, bearer_hit),
            FLOOR: _each([floor_item(material, p) for p in proofs], floor),
        }
        for name, seconds in time_interleaved(dict(loops), repeat).items():
            timings.per_repeat[name].append(seconds)
        for verifier in (async_verifier, sync_verifier):
            seen = verifier.dpop.replay
            if not isinstance(seen, MemoryReplayCache) or len(seen) != config.proofs + 1:
                raise RuntimeError("verify_dpop did not take each proof exactly once")
    log(
        f"  in-process: verify_dpop {timings.us(TOTAL):.1f} µs, floor {timings.us(FLOOR):.1f} µs"
        f" ({time.perf_counter() - started:.1f} s)"
    )
    return timings, sizes


def bench_app(config: DPoPConfig, timings: StepTimings, log: Callable[[str], None]) -> None:
    """The whole app of the HTTP bench (:func:`benchmarks._server.build_app`, middleware,
    routing, the JSON answer) called in-process through ASGI, no server: µs per request of a
    Bearer request (the cache hit) and of a DPoP request (a distinct proof each), and of the
    latter the time spent in ``verify_dpop`` (timed around the verifier's method)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ostiary-bench-dpop-") as tmp:
        signing_key, client_key = JWK.generate(DEFAULT_ALGORITHM), JWK.generate(ALG)
        jwks = Path(tmp) / "jwks.json"
        jwks.write_text(json.dumps(JWKSet([signing_key.public()]).public_document()))
        app = build_app(jwks, PUBLIC_URL)
    bearer_token, bound_token = issue_tokens(signing_key, client_key)
    verifier: TokenVerifier = app.state.ostiary_verifier
    verify_dpop, in_verify = verifier.verify_dpop, [0.0]

    async def timed(token: str, proofs: str | Sequence[str], *, method: str, url: str) -> Any:
        begun = time.perf_counter()
        try:
            return await verify_dpop(token, proofs, method=method, url=url)
        finally:
            in_verify[0] += time.perf_counter() - begun

    verifier.verify_dpop = timed  # type: ignore[method-assign]  # a probe, for this bench only
    statuses: Counter[int] = Counter()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] += 1

    def scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": METHOD,
            "scheme": "http",
            "path": PATH,
            "raw_path": PATH.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8000"), *headers],
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
        }

    bearer = [(b"authorization", b"Bearer " + bearer_token.encode())]
    bound = (b"authorization", b"DPoP " + bound_token.encode())

    async def requests(scopes: list[dict[str, Any]]) -> float:
        begun = time.perf_counter()
        for one in scopes:
            await app(one, receive, send)
        return (time.perf_counter() - begun) / len(scopes)

    async def measure() -> None:
        await requests([scope(bearer) for _ in range(50)])  # warm: the token cached
        for repeat in range(config.repeats):
            bearers = [scope(bearer) for _ in range(config.proofs)]
            proofs = make_proofs(client_key, bound_token, config.proofs)
            dpops = [scope([bound, (b"dpop", p.encode())]) for p in proofs]
            in_verify[0] = 0.0
            if repeat % 2 == 0:
                timings.per_repeat[APP_BEARER].append(await requests(bearers))
                timings.per_repeat[APP_DPOP].append(await requests(dpops))
            else:
                timings.per_repeat[APP_DPOP].append(await requests(dpops))
                timings.per_repeat[APP_BEARER].append(await requests(bearers))
            timings.per_repeat[APP_VERIFY].append(in_verify[0] / config.proofs)

    run_loop(measure())
    if set(statuses) != {200}:
        raise RuntimeError(f"the app answered {dict(statuses)}, not only 200")
    log(
        f"  in-process app: Bearer {timings.us(APP_BEARER):.1f} µs, DPoP "
        f"{timings.us(APP_DPOP):.1f} µs a request ({time.perf_counter() - started:.1f} s)"
    )


def run_loop(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` under uvloop, as the bench's servers run (asyncio without it)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


# --- HTTP ---------------------------------------------------------------------------------


class DPoPServer(Server):
    """The protected server of the HTTP bench with ``public_url`` set."""

    def command(self) -> list[str]:
        return [*super().command(), f"--public-url={PUBLIC_URL}"]


def http_sanity_check(server: Server, client: Client) -> None:
    """The server refuses what it must (no token, the bound token as Bearer, a replayed or
    damaged proof, a proof for another URL) and serves both variants' requests."""
    token = client.bound_token
    good, other, elsewhere = (
        *make_proofs(client.key, token, 2),
        make_proof(
            client.key,
            method=METHOD,
            url="https://elsewhere.example" + PATH,
            jti=secrets.token_urlsafe(16),
            iat=int(time.time()),
            access_token=token,
        ),
    )
    damaged = _damaged(other)

    def dpop(proof: str) -> list[tuple[str, str]]:
        return [("Authorization", f"DPoP {token}"), ("DPoP", proof)]

    expected: list[tuple[str, str | None, list[tuple[str, str]], int]] = [
        ("no token", None, [], 401),
        ("Bearer", client.bearer_token, [], 200),
        ("the bound token as Bearer", token, [], 401),
        ("DPoP", None, dpop(good), 200),
        ("a replayed proof", None, dpop(good), 401),
        ("a damaged proof", None, dpop(damaged), 401),
        ("a proof for another URL", None, dpop(elsewhere), 401),
    ]
    for what, bearer, headers, status in expected:
        got = http.http_status(server.port, bearer, headers=headers)
        if got != status:
            raise RuntimeError(f"{what}: the server answered {got}, expected {status}")


def bench_http(
    config: HttpConfig, log: Callable[[str], None]
) -> tuple[list[Measurement], str, float]:
    """The measurements, where the processes ran, and the seconds a DPoP measurement's proofs
    took to make (the longest)."""
    per_measurement = config.distinct_warmup + config.distinct_requests
    with tempfile.TemporaryDirectory(prefix="ostiary-bench-dpop-") as tmp:
        workdir = Path(tmp)
        signing_key = JWK.generate(DEFAULT_ALGORITHM)
        jwks = workdir / "jwks.json"
        jwks.write_text(json.dumps(JWKSet([signing_key.public()]).public_document()))
        client_key = JWK.generate(ALG)
        bearer_token, bound_token = issue_tokens(signing_key, client_key)
        client = Client(client_key, bound_token, bearer_token)
        server_cpu, client_cpu = cpu_plan()
        server = DPoPServer("protected dpop", workdir, jwks, server_cpu)
        measurements: list[Measurement] = []
        making = 0.0
        try:
            server.start()
            http_sanity_check(server, client)
            log(f"  server up: pid {server.pid}, public_url {PUBLIC_URL}")
            for round_ in range(config.rounds):
                order = VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]
                for variant in order:
                    if variant == BEARER:
                        result = run_load(server, config, token=bearer_token, cpu=client_cpu)
                    else:
                        # Made now, so that every proof's iat is seconds old when it arrives.
                        started = time.perf_counter()
                        proofs_file = workdir / f"proofs-{round_}.txt"
                        proofs_file.write_text(
                            "\n".join(make_proofs(client_key, bound_token, per_measurement))
                        )
                        making = max(making, time.perf_counter() - started)
                        result = run_load(
                            server,
                            config,
                            token=bound_token,
                            proofs_file=proofs_file,
                            cpu=client_cpu,
                        )
                    if not result["requests"]:
                        raise RuntimeError(f"{variant}: no responses at all ({result})")
                    m = Measurement(variant, round_, result)
                    measurements.append(m)
                    problem = m.problem()
                    log(
                        f"  round {round_ + 1}: {variant:<38} {m.rate:7.0f} req/s "
                        f"({result['requests']} in {result['window']:.2f} s, "
                        f"{_cpu_us(m.cpu_rate)} µs server CPU a request)"
                        + (f"  ERRORS: {problem}" if problem else "")
                    )
        finally:
            server.stop()
    where = placement(server_cpu, client_cpu, "the server")
    return measurements, where, making


def _cpu_us(cpu_rate: float | None) -> str:
    return f"{1e6 / cpu_rate:.0f}" if cpu_rate else "n/a"


# --- the report ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DPoPReport:
    measurements: list[Measurement]
    steps: StepTimings
    sizes: dict[str, int]
    targets: list[Target]
    config: DPoPConfig
    placement: str
    making: float

    def of(self, variant: str) -> list[Measurement]:
        return [m for m in self.measurements if m.variant == variant]

    def http_ratio(self, *, cpu: bool) -> float | None:
        """Median over rounds of DPoP's rate (or requests per server CPU-second) over
        Bearer's in the same round."""
        base = {m.round: (m.cpu_rate if cpu else m.rate) for m in self.of(BEARER)}
        found = [
            value / b
            for m in self.of(DPOP)
            if (value := m.cpu_rate if cpu else m.rate) is not None and (b := base[m.round])
        ]
        return median(found) if found else None

    def header(self) -> str:
        c = self.config.http
        return (
            f"DPoP against Bearer: GET {PATH} on uvicorn, 1 worker (uvloop, httptools), "
            f"install(app, verifier, public_url={PUBLIC_URL!r}); {c.connections} keep-alive "
            f"connections; {c.rounds} rounds of {c.duration:g} s after {c.warmup:g} s warm-up "
            f"(DPoP: at most {c.distinct_requests} requests, each with its own proof, all made "
            f"right before the measurement, in {self.making:.1f} s at most); {self.placement}; "
            "medians"
        )

    def http_table(self, *, markdown: bool = False) -> str:
        headers = [
            "variant",
            "req/s",
            "per round",
            "req/CPU-s",
            "CPU µs/req",
            "vs Bearer (CPU)",
            "vs Bearer (rate)",
            "p50 ms",
            "p99 ms",
            "errors",
            "server CPU",
            "client CPU",
        ]
        rows = []
        for variant in VARIANTS:
            ms = self.of(variant)
            cpu_rate = http.median_known([m.cpu_rate for m in ms])
            latencies = [m.result["latency_ms"] for m in ms if m.result["latency_ms"]]
            base = variant == BEARER
            rows.append(
                [
                    variant,
                    f"{median(m.rate for m in ms):.0f}",
                    " ".join(f"{m.rate:.0f}" for m in ms),
                    "n/a" if cpu_rate is None else f"{cpu_rate:.0f}",
                    _cpu_us(cpu_rate),
                    "1.000" if base else _ratio_or_na(self.http_ratio(cpu=True)),
                    "1.000" if base else _ratio_or_na(self.http_ratio(cpu=False)),
                    f"{median(x['p50'] for x in latencies):.2f}" if latencies else "n/a",
                    f"{median(x['p99'] for x in latencies):.2f}" if latencies else "n/a",
                    str(sum(m.errors for m in ms)),
                    _percent([m.result["server_cpu"] for m in ms]),
                    _percent([m.result["client_cpu"] for m in ms]),
                ]
            )
        return render_table(headers, rows, markdown=markdown)

    def steps_table(self, *, markdown: bool = False) -> str:
        s = self.steps
        total = s.us(TOTAL)
        claims = s.less_us(PROOF, PARSE, KEY, SIGNATURE)
        rest = s.less_us(TOTAL, TOKEN, PROOF, BINDING, REPLAY)

        def row(step: str, us: float, note: str, *, share: bool = True) -> list[str]:
            return [step, _us(us), f"{us / total * 100:.0f}%" if share else "", note]

        rows = [
            row("token: verified-token cache hit", s.us(TOKEN), "SHA-256 of it, LRU, revoked?"),
            row("proof: parse + header checks", s.us(PARSE), "parse_compact, typ, alg"),
            row(
                "proof key: lookup by jwk members",
                s.us(KEY),
                "verify_proof skips it once the header segment is remembered",
            ),
            row("proof: ES256 signature", s.us(SIGNATURE), "JWK.verify_signature (cryptography)"),
            row("proof: claims checks", claims, "by difference (verify_proof less the above)"),
            row("  of which claims JSON", s.us(CLAIMS_JSON), "strict_loads", share=False),
            row("  of which htu", s.us(HTU), "both URLs normalized (remembered)", share=False),
            row("  of which ath", s.us(ATH), "SHA-256 of the token", share=False),
            row("cnf.jkt = proof key", s.us(BINDING), "hmac.compare_digest"),
            row("replay cache: jti first use", s.us(REPLAY), "MemoryReplayCache"),
            row("calls between the steps", rest, "by difference (DPoPChecker.verify, ...)"),
            row("verify_dpop, distinct proofs", total, "the whole, measured"),
            row(
                "floor: cryptography ES256 verify",
                s.us(FLOOR),
                "the proof's signature, DER ready",
            ),
            row(
                "verify_dpop over the floor",
                s.less_us(TOTAL, FLOOR),
                f"{ratio(s.ratio(TOTAL, FLOOR))}x the floor",
                share=False,
            ),
            row(
                "proof key: import (new key)",
                s.us(FRESH_KEY),
                f"a client's first proof: +{_us(s.less_us(FRESH_KEY, KEY))} µs",
                share=False,
            ),
            row("verify_dpop_sync (WSGI)", s.us(SYNC), "the same, Flask's path", share=False),
            row("Bearer verify, cache hit", s.us(BEARER_HIT), "for reference", share=False),
            row(
                "the app (ASGI, no server): Bearer",
                s.us(APP_BEARER),
                "request to answer",
                share=False,
            ),
            row(
                "the app (ASGI, no server): DPoP",
                s.us(APP_DPOP),
                f"+{_us(s.less_us(APP_DPOP, APP_BEARER))} µs over Bearer",
                share=False,
            ),
            row(
                "  of which verify_dpop",
                s.us(APP_VERIFY),
                "the same call, amid the app's work",
                share=False,
            ),
        ]
        headers = ["step", "µs", "share", "what"]
        return render_table(headers, rows, markdown=markdown)

    def table(self, *, markdown: bool = False) -> str:
        c = self.config
        steps_header = (
            f"In-process, per request: verify_dpop steps, ES256 proofs of {self.sizes['proof']} "
            f"characters with a {self.sizes['token']}-character bound token; median of "
            f"{c.repeats} repeats of {c.proofs} distinct proofs ({c.hits} calls for cache hits, "
            f"{c.fresh_keys} new keys)"
        )
        return "\n\n".join(
            [self.http_table(markdown=markdown), steps_header, self.steps_table(markdown=markdown)]
        )


def _ratio_or_na(value: float | None) -> str:
    return "n/a" if value is None else ratio(value)


def _percent(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{median(known) * 100:.0f}%" if known else "n/a"


def _us(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def run(config: DPoPConfig, log: Callable[[str], None] = print) -> DPoPReport:
    measurements, where, making = bench_http(config.http, log)
    steps, sizes = bench_steps(config, log)
    bench_app(config, steps, log)
    target = Target(
        f"dpop verify_dpop ({ALG}, distinct proofs): time / the cryptography floor",
        steps.ratio(TOTAL, FLOOR),
        FLOOR_TARGET,
        below=True,
    )
    return DPoPReport(measurements, steps, sizes, [target], config, where, making)
