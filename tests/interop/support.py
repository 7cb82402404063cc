"""Helpers of the interoperability tests: claims, a local JWKS server, and the Node runner."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import select
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from fastapi import FastAPI, Request
from flask import Flask
from flask import request as flask_request
from werkzeug.serving import make_server

from ostiary.access_claims import AccessClaims
from ostiary.jose import JWK
from ostiary.keys import generate_key
from ostiary.resource import TokenVerifier
from ostiary.resource.fastapi import CurrentClaims, install, require_dpop
from ostiary.resource.flask import OstiaryFlask, current_claims

ISSUER: Final = "https://auth.interop.example"
AUDIENCE: Final = "https://api.interop.example"
OTHER_AUDIENCE: Final = "https://elsewhere.interop.example"

#: Every algorithm Ostiary generates keys for (ostiary.keys.GENERATED_ALGORITHMS).
ASYMMETRIC: Final = ("ES256", "EdDSA", "RS256", "PS256")
SYMMETRIC: Final = ("HS256", "HS384", "HS512")
ALGORITHMS: Final = ASYMMETRIC + SYMMETRIC

NODE_DIR: Final = Path(__file__).parent / "node"
NPM_INSTALL_TIMEOUT: Final = 240.0
NODE_TIMEOUT: Final = 60.0


def access_claims(alg: str, *, audience: str | list[str] = AUDIENCE) -> dict[str, Any]:
    """A complete RFC 9068 claims set; the values name the algorithm so mix-ups show."""
    now = int(time.time())
    return {
        "iss": ISSUER,
        "sub": f"user-{alg.lower()}",
        "aud": audience,
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "client_id": f"client-{alg.lower()}",
        "scope": "read:items write:items",
        # Non-ASCII text, to check that both sides agree on UTF-8 in the payload.
        "name": "Zoë Ångström",
    }


def generate(alg: str) -> JWK:
    """An Ostiary key for ``alg``; 2048-bit RSA keeps the run fast."""
    return generate_key(alg, rsa_bits=2048)


def secret_of(key: JWK) -> bytes:
    """The raw secret of an Ostiary HMAC key."""
    return b64url_decode(str(key.private_dict()["k"]))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- a JWKS endpoint on 127.0.0.1 ------------------------------------------------------------


class JWKSServer:
    """A real HTTP server on a random loopback port, serving JWKS documents by path.

    Each :meth:`publish` adds a document under its own path, so tests do not see each other's
    keys; :meth:`hits` counts the GETs a path received.
    """

    def __init__(self) -> None:
        self._documents: dict[str, bytes] = {}
        self._hits: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="interop-jwks", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def publish(self, document: Mapping[str, Any]) -> str:
        """Serve ``document`` under a fresh path; return its URL."""
        path = f"/{uuid.uuid4().hex}/.well-known/jwks.json"
        with self._lock:
            self._documents[path] = json.dumps(document).encode()
            self._hits[path] = 0
        return self.base_url + path

    def hits(self, url: str) -> int:
        with self._lock:
            return self._hits[url.removeprefix(self.base_url)]

    def _lookup(self, path: str) -> bytes | None:
        with self._lock:
            body = self._documents.get(path)
            if body is not None:
                self._hits[path] += 1
            return body

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        lookup = self._lookup

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                body = lookup(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/jwk-set+json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "public, max-age=300")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        return Handler


# --- Node's jose and openid-client ------------------------------------------------------------


class NodeUnavailable(Exception):
    """node or npm is missing, or the pinned packages could not be installed."""


def pinned_versions() -> dict[str, str]:
    """The npm packages of node/package.json by name, each at its exact pinned version."""
    package = json.loads((NODE_DIR / "package.json").read_text(encoding="utf-8"))
    return {name: str(version) for name, version in package["dependencies"].items()}


def installed_version(package: str) -> str | None:
    manifest = NODE_DIR / "node_modules" / package / "package.json"
    try:
        return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return None


def stale_packages() -> dict[str, str | None]:
    """The pinned packages missing from node_modules or at another version there."""
    installed = {name: installed_version(name) for name in pinned_versions()}
    pinned = pinned_versions()
    return {name: version for name, version in installed.items() if version != pinned[name]}


def install_node_packages() -> str:
    """The path of node, once every pinned package is in node/node_modules: ``npm install``
    runs only when one is missing or stale."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise NodeUnavailable("node and npm are needed on PATH for the Node interop tests")
    if not stale_packages():
        return node
    try:
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_INSTALL_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NodeUnavailable(f"npm install in {NODE_DIR} failed: {exc}") from exc
    if done.returncode != 0:
        raise NodeUnavailable(
            f"npm install in {NODE_DIR} exited with {done.returncode}: {done.stderr.strip()[-800:]}"
        )
    stale = stale_packages()
    if stale:
        raise NodeUnavailable(
            f"npm install left {stale} (name: installed version), expected {pinned_versions()}"
        )
    return node


@dataclass(frozen=True, slots=True)
class NodeScripts:
    """Runs the scripts in tests/interop/node, which use ``package`` (installed, pinned) and
    say in their output which version of it ran."""

    node: str
    package: str
    version: str

    @classmethod
    def prepare(cls, package: str) -> NodeScripts:
        """Find node and npm; run ``npm install`` when node_modules is missing or stale."""
        node = install_node_packages()
        return cls(node=node, package=package, version=pinned_versions()[package])

    def run(self, script: str, job: Mapping[str, Any]) -> dict[str, Any]:
        """Run ``script`` with ``job`` as JSON on stdin; return its ``results`` object."""
        try:
            done = subprocess.run(
                [self.node, script],
                cwd=NODE_DIR,
                input=json.dumps(job),
                capture_output=True,
                text=True,
                timeout=NODE_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"node {script} did not finish in {NODE_TIMEOUT} s") from exc
        if done.returncode != 0:
            raise AssertionError(
                f"node {script} exited with {done.returncode}:\n{done.stderr.strip()}"
            )
        output: dict[str, Any] = json.loads(done.stdout)
        assert output[self.package] == self.version, f"the {self.package} that ran is not pinned"
        pinned = pinned_versions()
        ran = {name: output[name] for name in pinned if name in output}
        assert ran == {name: pinned[name] for name in ran}, f"not the pinned versions: {ran}"
        results: dict[str, Any] = output["results"]
        return results

    @contextlib.contextmanager
    def serve(self, script: str, job: Mapping[str, Any], workdir: Path) -> Iterator[dict[str, Any]]:
        """Run the server ``script`` with ``job`` as JSON on stdin; yield the first line it
        prints (JSON: its address, and the version of ``package`` that runs it) once it
        listens; stop it with SIGTERM on exit (SIGKILL if it lingers). Its stderr goes to a
        file in ``workdir``, quoted when it fails to start."""
        stderr_path = workdir / f"{Path(script).stem}.stderr.log"
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                [self.node, script],
                cwd=NODE_DIR,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
            try:
                assert process.stdin is not None and process.stdout is not None
                process.stdin.write(json.dumps(job).encode())
                process.stdin.close()
                ready, _, _ = select.select([process.stdout], [], [], NODE_TIMEOUT)
                line = process.stdout.readline() if ready else b""
                if not line:
                    process.kill()
                    process.wait(timeout=NODE_TIMEOUT)
                    log = stderr_path.read_text(encoding="utf-8", errors="replace")
                    raise AssertionError(f"node {script} did not start:\n{log[-3000:]}")
                started: dict[str, Any] = json.loads(line)
                assert started[self.package] == self.version, f"{self.package} is not pinned"
                yield started
            finally:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    try:
                        process.wait(timeout=NODE_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait(timeout=NODE_TIMEOUT)
                if process.stdout is not None:
                    process.stdout.close()


#: The scripts that use Node's jose (the name the jose tests know them by).
NodeJose = NodeScripts


# --- an API protected by the resource toolkit, for the DPoP tests -----------------------------


@dataclass(frozen=True, slots=True)
class DPoPAPI:
    """The URLs of :func:`protected_api` served at ``base_url``: ``items`` (GET: DPoP-bound
    tokens with their proof, or Bearer tokens that are not bound) and ``dpop_only`` (POST:
    DPoP only)."""

    base_url: str

    @property
    def items(self) -> str:
        return self.base_url + "/items"

    @property
    def dpop_only(self) -> str:
        return self.base_url + "/dpop/items"


def protected_api(verifier: TokenVerifier) -> FastAPI:
    """A FastAPI app behind ``ostiary.resource``; each route answers with what the toolkit
    verified: the method, the Authorization scheme, the token's ``sub``, ``client_id``,
    ``scope`` and ``cnf`` (null for a token that is not bound), the query, and a POST's JSON."""
    app = FastAPI()
    install(app, verifier)

    async def seen(request: Request, claims: AccessClaims) -> dict[str, Any]:
        authorization = request.headers.get("authorization", "")
        return {
            "method": request.method,
            "scheme": authorization.partition(" ")[0],
            "sub": claims.sub,
            "client_id": claims.client_id,
            "scope": claims.raw.get("scope"),
            "cnf": claims.raw.get("cnf"),
            "query": request.url.query,
        }

    @app.get("/items")
    async def items(request: Request, claims: CurrentClaims) -> dict[str, Any]:
        return await seen(request, claims)

    @app.post("/dpop/items", dependencies=[require_dpop()])
    async def add_item(request: Request, claims: CurrentClaims) -> dict[str, Any]:
        return {**await seen(request, claims), "json": await request.json()}

    return app


def protected_flask_api(verifier: TokenVerifier) -> Flask:
    """:func:`protected_api` as a Flask app behind ``ostiary.resource.flask`` (the
    synchronous verifier), answering the same."""
    app = Flask(__name__)
    auth = OstiaryFlask(app, verifier)

    def seen() -> dict[str, Any]:
        claims = current_claims()
        return {
            "method": flask_request.method,
            "scheme": flask_request.headers.get("Authorization", "").partition(" ")[0],
            "sub": claims.sub,
            "client_id": claims.client_id,
            "scope": claims.raw.get("scope"),
            "cnf": claims.raw.get("cnf"),
            "query": flask_request.query_string.decode("latin-1"),
        }

    @app.get("/items")
    @auth.require_token
    def items() -> dict[str, Any]:
        return seen()

    @app.post("/dpop/items")
    @auth.require_dpop
    def add_item() -> dict[str, Any]:
        return {**seen(), "json": flask_request.get_json()}

    return app


@contextlib.contextmanager
def serve_wsgi(app: Flask) -> Iterator[str]:
    """``app`` under werkzeug's threaded server on a free port of 127.0.0.1, in a thread;
    yields its base URL, stops it on exit."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="interop-wsgi", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


#: RFC 9110 §11.6.1: an auth-param's name and its token or quoted-string value.
_AUTH_PARAM: Final = re.compile(
    r"""([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[!#$%&'*+.^_`|~0-9A-Za-z-]+)"""
)
_AUTH_SCHEME: Final = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?=\s|,|$)")


def challenges(www_authenticate: str | None) -> list[tuple[str, dict[str, str]]]:
    """The challenges of a ``WWW-Authenticate`` value (RFC 9110 §11.6.1), each as its scheme
    lower-cased and its parameters (names lower-cased, quoted values unquoted)."""
    found: list[tuple[str, dict[str, str]]] = []
    text, position = www_authenticate or "", 0
    while position < len(text):
        if text[position] in " ,":
            position += 1
            continue
        param = _AUTH_PARAM.match(text, position)
        if param is not None and found:
            value = param.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            found[-1][1][param.group(1).lower()] = value
            position = param.end()
            continue
        scheme = _AUTH_SCHEME.match(text, position)
        if scheme is None:
            raise AssertionError(f"not a WWW-Authenticate value: {text!r}")
        found.append((scheme.group(1).lower(), {}))
        position = scheme.end()
    return found


def thumbprint(public_jwk: Mapping[str, Any], alg: str) -> str:
    """Ostiary's RFC 7638 thumbprint of a public key exported by WebCrypto, whose ``alg``
    member (``Ed25519`` for an Ed25519 key in Node) is left out: ``alg`` is the JWS name the
    key signs with."""
    members = {k: v for k, v in public_jwk.items() if k not in ("alg", "ext", "key_ops")}
    return JWK.from_dict(members, alg=alg).thumbprint()


def dpop_challenge(answer: Mapping[str, Any]) -> dict[str, str]:
    """The parameters of the ``DPoP`` challenge (RFC 9449 §7.1) of an API's answer recorded by
    node/dpop_steps.mjs; where oauth4webapi made the call, it must have parsed the same."""
    parsed = challenges(answer["www_authenticate"])
    found = [params for scheme, params in parsed if scheme == "dpop"]
    assert len(found) == 1, f"not one DPoP challenge: {answer['www_authenticate']!r}"
    by_oauth4webapi = answer.get("challenges")
    if by_oauth4webapi is not None:
        assert [(c["scheme"], c["parameters"]) for c in by_oauth4webapi] == parsed, (
            f"oauth4webapi read {by_oauth4webapi}, not {parsed}"
        )
    return found[0]
