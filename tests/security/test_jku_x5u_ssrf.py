"""Attack: ``jku`` / ``x5u`` point the verifier at a key set or certificate URL chosen by the
attacker (RFC 8725 §3.10): the verifier fetches the attacker's key (forgery), or is made to
send requests to internal addresses (SSRF). A real listener on 127.0.0.1 serves the attacker's
JWKS; the token must be refused and the listener must see no request at all."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ostiary.errors import ForbiddenHeader
from ostiary.jose import JWK, JWKSet
from tests.security._attacks import assert_refused
from tests.unit.jose._helpers import access_claims, at_header, sign_parts


@dataclass
class Listener:
    url: str
    seen: list[str] = field(default_factory=list)


@pytest.fixture
def listener(attacker_key: JWK) -> Iterator[Listener]:
    body = json.dumps({"keys": [attacker_key.public_dict()]}).encode()
    state = Listener(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_listener_counts_requests(listener: Listener) -> None:
    # Guard for the tests below: the listener really answers and records what it sees.
    with urllib.request.urlopen(f"{listener.url}/jwks.json", timeout=5) as response:
        assert json.load(response)["keys"]
    assert listener.seen == ["/jwks.json"]


@pytest.mark.parametrize("member", ["jku", "x5u"])
@pytest.mark.parametrize("kid_choice", ["attacker", "trusted"])
def test_remote_key_url_is_refused_without_any_request(
    member: str,
    kid_choice: str,
    listener: Listener,
    es256_key: JWK,
    attacker_key: JWK,
    es256_keys: JWKSet,
) -> None:
    kid = attacker_key.kid if kid_choice == "attacker" else es256_key.kid
    url = f"{listener.url}/{member}.json"
    token = sign_parts(
        at_header(attacker_key, kid=kid, **{member: url}), access_claims(), attacker_key
    )
    assert_refused(token, es256_keys, ForbiddenHeader)
    assert listener.seen == []


def test_both_urls_and_an_internal_target(
    listener: Listener, attacker_key: JWK, es256_keys: JWKSet
) -> None:
    header = at_header(
        attacker_key,
        jku=f"{listener.url}/latest/meta-data/iam/security-credentials/",
        x5u=f"{listener.url}/cert.pem",
    )
    assert_refused(sign_parts(header, access_claims(), attacker_key), es256_keys, ForbiddenHeader)
    assert listener.seen == []
