"""Helpers of the interoperability tests: claims, a local JWKS server, and the Node runner."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from ostiary.jose import JWK
from ostiary.keys import generate_key

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
        results: dict[str, Any] = output["results"]
        return results


#: The scripts that use Node's jose (the name the jose tests know them by).
NodeJose = NodeScripts
