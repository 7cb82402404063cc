"""ClientCredentialsAuth against a real token endpoint and a real API on 127.0.0.1.

Both are ``http.server`` servers in background threads, on ports of their own (so that the
connections of the auth object's own client can be told apart from the caller's). The token
endpoint authenticates the client for real (Basic with form-urlencoded id and secret, RFC 6749
§2.3.1, or the form), counts its calls and issues random opaque tokens; the API accepts only
tokens it issued and answers 401 ``invalid_token`` for a revoked one. Expiry is moved with a
FrozenClock, never slept for.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import secrets
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Literal
from urllib.parse import parse_qs, unquote_plus

import httpx
import pytest

from ostiary.clock import FrozenClock
from ostiary.errors import ConfigurationError
from ostiary.resource import ClientCredentialsAuth, TokenRequestFailed

from ._jwks_server import closed_port

T0: Final = 1_700_000_000.0
CLIENT_ID: Final = "svc orders:1"
SECRET: Final = "p@ss:w+rd %/é-" + secrets.token_urlsafe(8)
OMIT: Final = object()  # a token_fields value that leaves the field out
#: One TLS context for the test's own clients: building one per client is most of a test's time.
TLS: Final = ssl.create_default_context()
INVALID_TOKEN: Final = 'Bearer realm="api", error="invalid_token", error_description="Revoked."'

Role = Literal["token", "api"]


@dataclass(frozen=True)
class TokenRequest:
    headers: dict[str, str]  # lower-case names
    form: dict[str, list[str]]


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so that server_close() joins every handler thread
    block_on_close = True
    request_queue_size = 64  # twenty clients connect at once
    endpoints: Endpoints
    role: Role


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so that closing a client is visible here
    timeout = 5  # a backstop: no handler thread outlives a stuck test for long
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.endpoints.opened(self.server.role, self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.endpoints.closed(self.server.role, self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self._read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        endpoints = self.server.endpoints
        if self.server.role == "token":
            status, extra, payload = endpoints.token(headers, body)
        else:
            status, extra, payload = endpoints.api(self.path, headers, body)
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **extra}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PUT = do_POST

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0], 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(chunks)


class Endpoints:
    """A token endpoint at ``token_url`` and an API under ``api_url``, sharing their tokens."""

    def __init__(self) -> None:
        self.allowed_scopes = {"orders:read", "orders:write"}
        #: Merged into each token response; a value of OMIT leaves that member out.
        self.token_fields: dict[str, object] = {}
        #: (status, content type, body) answered instead of a token, whatever the request.
        self.raw_token_response: tuple[int, str, bytes] | None = None
        self.echo_secret = False  # invalid_client's description repeats the secret it got
        self.token_delay = 0.0
        #: (status, WWW-Authenticate) answered by the API instead of checking the token.
        self.api_override: tuple[int, str] | None = None
        self.token_requests: list[TokenRequest] = []
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.api_tokens: list[str | None] = []
        self.api_bodies: list[bytes] = []
        self.stopping = threading.Event()
        self._changed = threading.Condition()
        self._connections: dict[Role, set[socket.socket]] = {"token": set(), "api": set()}
        self._servers = {role: self._server(role) for role in ("token", "api")}
        self.token_url = f"http://127.0.0.1:{self._servers['token'].server_address[1]}/token"
        self.api_url = f"http://127.0.0.1:{self._servers['api'].server_address[1]}/api"
        self._threads = [
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.01})
            for s in self._servers.values()
        ]

    def _server(self, role: Role) -> _Server:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.endpoints, server.role = self, role
        return server

    @property
    def token_calls(self) -> int:
        with self._changed:
            return len(self.token_requests)

    @property
    def api_calls(self) -> int:
        with self._changed:
            return len(self.api_tokens)

    def revoke_all(self) -> None:
        with self._changed:
            self.revoked.update(self.issued)

    # --- the token endpoint (RFC 6749 §4.4.2, §5.1, §5.2) ------------------------------------

    def token(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        form = parse_qs(body.decode(), keep_blank_values=True)
        with self._changed:
            self.token_requests.append(TokenRequest(headers, form))
        if self.token_delay:
            self.stopping.wait(self.token_delay)
        if self.raw_token_response is not None:
            status, content_type, raw = self.raw_token_response
            return status, {"Content-Type": content_type}, raw
        if headers.get("content-type") != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "Send a form.")
        authenticated = self._authenticate(headers, form)
        if authenticated is not None:
            return authenticated
        if form.get("grant_type") != ["client_credentials"]:
            return _oauth_error(400, "unsupported_grant_type", "Only client_credentials.")
        scopes = set(form.get("scope", [""])[0].split())
        if not scopes <= self.allowed_scopes:
            return _oauth_error(400, "invalid_scope", "The scope admin is not granted.")
        token = secrets.token_urlsafe(24)
        with self._changed:
            self.issued.append(token)
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
        answer |= self.token_fields
        answer = {name: value for name, value in answer.items() if value is not OMIT}
        return 200, {"Cache-Control": "no-store"}, json.dumps(answer).encode()

    def _authenticate(
        self, headers: dict[str, str], form: dict[str, list[str]]
    ) -> tuple[int, dict[str, str], bytes] | None:
        """None when the client authenticated with exactly one method (RFC 6749 §2.3)."""
        basic = headers.get("authorization", "")
        if basic and "client_secret" in form:
            return _oauth_error(400, "invalid_request", "More than one authentication method.")
        if basic.startswith("Basic "):
            user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
            client_id, secret = unquote_plus(user), unquote_plus(password)
        else:
            client_id = form.get("client_id", [""])[0]
            secret = form.get("client_secret", [""])[0]
        if hmac.compare_digest(client_id.encode(), CLIENT_ID.encode()) and hmac.compare_digest(
            secret.encode(), SECRET.encode()
        ):
            return None
        said = f"Wrong secret {secret!r}." if self.echo_secret else "Client authentication failed."
        status, extra, body = _oauth_error(401, "invalid_client", said)
        return status, {**extra, "WWW-Authenticate": 'Basic realm="token"'}, body

    # --- the API (RFC 6750 §3) ---------------------------------------------------------------

    def api(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        authorization = headers.get("authorization", "")
        token = authorization[7:] if authorization.startswith("Bearer ") else None
        with self._changed:
            self.api_tokens.append(token)
            self.api_bodies.append(body)
            valid = token in self.issued and token not in self.revoked
        if self.api_override is not None:
            status, challenge = self.api_override
            return status, {"WWW-Authenticate": challenge}, b"{}"
        if token is None:
            return 401, {"WWW-Authenticate": 'Bearer realm="api"'}, b"{}"
        if not valid:
            return 401, {"WWW-Authenticate": INVALID_TOKEN}, b'{"error":"invalid_token"}'
        return 200, {}, json.dumps({"path": path, "body": body.decode()}).encode()

    # --- connections and life cycle ------------------------------------------------------------

    def opened(self, role: Role, connection: socket.socket) -> None:
        with self._changed:
            self._connections[role].add(connection)
            self._changed.notify_all()
        if self.stopping.is_set():
            _hang_up(connection)

    def closed(self, role: Role, connection: socket.socket) -> None:
        with self._changed:
            self._connections[role].discard(connection)
            self._changed.notify_all()

    def open_connections(self, role: Role) -> int:
        with self._changed:
            return len(self._connections[role])

    def wait_for_connections(self, role: Role, count: int) -> bool:
        """Whether ``role`` has ``count`` open connections within two seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._connections[role]) == count, 2.0)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for server in self._servers.values():
            server.shutdown()
        with self._changed:
            connections = [c for role in self._connections.values() for c in role]
        for connection in connections:  # idle keep-alive connections end their handlers
            _hang_up(connection)
        for server in self._servers.values():
            server.server_close()  # joins the handler threads
        for thread in self._threads:
            thread.join(timeout=5)
            assert not thread.is_alive()


def _oauth_error(status: int, error: str, description: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"error": error, "error_description": description}).encode()
    return status, {"Cache-Control": "no-store"}, body


def _hang_up(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # closed already


@contextmanager
def running_endpoints() -> Iterator[Endpoints]:
    endpoints = Endpoints()
    endpoints.start()
    try:
        yield endpoints
    finally:
        endpoints.stop()


# --- fixtures --------------------------------------------------------------------------------

AuthFactory = Callable[..., ClientCredentialsAuth]


@pytest.fixture
def endpoints() -> Iterator[Endpoints]:
    with running_endpoints() as running:
        yield running


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


def _factory(endpoints: Endpoints, made: list[ClientCredentialsAuth]) -> AuthFactory:
    def make(**options: Any) -> ClientCredentialsAuth:
        options.setdefault("timeout", 5.0)
        secret = options.pop("client_secret", SECRET)
        auth = ClientCredentialsAuth(endpoints.token_url, CLIENT_ID, secret, **options)
        made.append(auth)
        return auth

    return make


@pytest.fixture
def make_auth(endpoints: Endpoints) -> Iterator[AuthFactory]:
    """ClientCredentialsAuth for the sync flow, closed at teardown."""
    made: list[ClientCredentialsAuth] = []
    yield _factory(endpoints, made)
    for auth in made:
        auth.close()


@pytest.fixture
async def make_async_auth(endpoints: Endpoints) -> AsyncIterator[AuthFactory]:
    """ClientCredentialsAuth for the async flow, closed at teardown."""
    made: list[ClientCredentialsAuth] = []
    yield _factory(endpoints, made)
    for auth in made:
        await auth.aclose()


def api_client(endpoints: Endpoints, auth: httpx.Auth, **options: Any) -> httpx.Client:
    return httpx.Client(base_url=endpoints.api_url, auth=auth, timeout=5.0, verify=TLS, **options)


def async_api_client(endpoints: Endpoints, auth: httpx.Auth) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=endpoints.api_url, auth=auth, timeout=5.0, verify=TLS)


# --- fetching and caching (RFC 6749 §4.4) ------------------------------------------------------


def test_the_first_request_fetches_a_token_and_the_next_reuse_it(
    endpoints: Endpoints, make_auth: AuthFactory
) -> None:
    with api_client(endpoints, make_auth()) as client:
        first = client.get("/orders")
        second = client.post("/orders", json={"n": 1})

    assert (first.status_code, second.status_code) == (200, 200)
    assert endpoints.token_calls == 1
    assert endpoints.api_tokens == [endpoints.issued[0]] * 2
    sent = endpoints.token_requests[0]
    assert sent.form == {"grant_type": ["client_credentials"]}
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.headers["accept"] == "application/json"


async def test_the_async_flow_fetches_once_and_reuses(
    endpoints: Endpoints, make_async_auth: AuthFactory
) -> None:
    async with async_api_client(endpoints, make_async_auth()) as client:
        answers = [await client.get(f"/orders/{n}") for n in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert endpoints.token_calls == 1
    assert endpoints.api_tokens == [endpoints.issued[0]] * 3


def test_basic_authentication_form_urlencodes_id_and_secret(
    endpoints: Endpoints, make_auth: AuthFactory
) -> None:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined and base64-encoded."""
    with api_client(endpoints, make_auth()) as client:
        assert client.get("/orders").status_code == 200

    header = endpoints.token_requests[0].headers["authorization"]
    user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    assert user == "svc+orders%3A1"
    assert password.startswith("p%40ss%3Aw%2Brd+%25%2F%C3%A9-")
    assert "client_secret" not in endpoints.token_requests[0].form


def test_client_secret_post_sends_the_credentials_in_the_form(
    endpoints: Endpoints, make_auth: AuthFactory
) -> None:
    with api_client(endpoints, make_auth(auth_method="client_secret_post")) as client:
        assert client.get("/orders").status_code == 200

    sent = endpoints.token_requests[0]
    assert "authorization" not in sent.headers
    assert sent.form["client_id"] == [CLIENT_ID]
    assert sent.form["client_secret"] == [SECRET]


def test_scope_and_each_resource_are_sent(endpoints: Endpoints, make_auth: AuthFactory) -> None:
    """RFC 6749 §3.3 scope, space-delimited; RFC 8707 §2 resource, repeated."""
    auth = make_auth(
        scope=["orders:read", "orders:write"],
        resource=["https://orders.example.test/", "https://billing.example.test/"],
    )
    with api_client(endpoints, auth) as client:
        assert client.get("/orders").status_code == 200

    form = endpoints.token_requests[0].form
    assert form["scope"] == ["orders:read orders:write"]
    assert form["resource"] == ["https://orders.example.test/", "https://billing.example.test/"]


def test_the_token_request_bypasses_the_callers_client(
    endpoints: Endpoints, make_auth: AuthFactory
) -> None:
    """The caller's hooks and default headers never see or shape the token request."""
    seen: list[str] = []
    with api_client(
        endpoints,
        make_auth(),
        headers={"X-Tenant": "acme"},
        event_hooks={"request": [lambda request: seen.append(str(request.url))]},
    ) as client:
        assert client.get("/orders").status_code == 200

    assert seen == [endpoints.api_url + "/orders"]
    assert "x-tenant" not in endpoints.token_requests[0].headers


# --- renewal -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "cached_until", "renewed_at"),
    [
        pytest.param({}, 3569, 3570, id="renew_before ahead of expiry"),
        pytest.param({"expires_in": 20}, 17, 18, id="short lifetime: 90 percent"),
        pytest.param({"expires_in": OMIT}, 53, 54, id="no expires_in: 60 s assumed"),
    ],
)
def test_a_token_is_renewed_before_it_expires(
    endpoints: Endpoints,
    make_auth: AuthFactory,
    clock: FrozenClock,
    fields: dict[str, object],
    cached_until: float,
    renewed_at: float,
) -> None:
    endpoints.token_fields = fields
    with api_client(endpoints, make_auth(clock=clock, renew_before=30)) as client:
        client.get("/orders")
        clock.set(T0 + cached_until)
        client.get("/orders")
        assert endpoints.token_calls == 1
        clock.set(T0 + renewed_at)
        assert client.get("/orders").status_code == 200

    assert endpoints.token_calls == 2
    assert endpoints.api_tokens == [endpoints.issued[0]] * 2 + [endpoints.issued[1]]


# --- one renewal at a time ------------------------------------------------------------------


async def test_twenty_concurrent_tasks_cause_one_token_request(
    endpoints: Endpoints, make_async_auth: AuthFactory
) -> None:
    endpoints.token_delay = 0.1  # every task arrives while the first fetch is under way
    async with async_api_client(endpoints, make_async_auth()) as client:
        answers = await asyncio.gather(*(client.get(f"/orders/{n}") for n in range(20)))

    assert {a.status_code for a in answers} == {200}
    assert endpoints.token_calls == 1
    assert set(endpoints.api_tokens) == {endpoints.issued[0]}


def test_twenty_threads_cause_one_token_request(
    endpoints: Endpoints, make_auth: AuthFactory
) -> None:
    endpoints.token_delay = 0.1
    start = threading.Barrier(20)
    statuses: list[int] = []

    with api_client(endpoints, make_auth()) as client:

        def call(n: int) -> None:
            start.wait(timeout=5)
            statuses.append(client.get(f"/orders/{n}").status_code)

        threads = [threading.Thread(target=call, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)

    assert statuses == [200] * 20
    assert endpoints.token_calls == 1
    assert set(endpoints.api_tokens) == {endpoints.issued[0]}


async def test_twenty_concurrent_rejections_cause_one_refetch(
    endpoints: Endpoints, make_async_auth: AuthFactory
) -> None:
    async with async_api_client(endpoints, make_async_auth()) as client:
        await client.get("/orders")
        endpoints.revoke_all()
        endpoints.token_delay = 0.1
        answers = await asyncio.gather(*(client.get(f"/orders/{n}") for n in range(20)))

    assert {a.status_code for a in answers} == {200}
    assert endpoints.token_calls == 2


# --- 401 invalid_token (RFC 6750 §3.1) ---------------------------------------------------------


def test_invalid_token_refetches_and_retries_once(
    endpoints: Endpoints, make_auth: AuthFactory
) -> None:
    with api_client(endpoints, make_auth()) as client:
        client.get("/orders")
        endpoints.revoke_all()
        answer = client.post("/orders", json={"n": 1})

    assert answer.status_code == 200
    assert answer.json()["body"] == '{"n":1}'
    assert [r.status_code for r in answer.history] == [401]
    assert endpoints.token_calls == 2
    old, new = endpoints.issued
    assert endpoints.api_tokens == [old, old, new]
    assert endpoints.api_bodies[-2:] == [b'{"n":1}'] * 2


async def test_invalid_token_refetches_and_retries_once_async(
    endpoints: Endpoints, make_async_auth: AuthFactory
) -> None:
    async with async_api_client(endpoints, make_async_auth()) as client:
        await client.get("/orders")
        endpoints.revoke_all()
        answer = await client.put("/orders/1", content=b"payload")

    assert answer.status_code == 200
    assert endpoints.token_calls == 2
    assert endpoints.api_bodies[-2:] == [b"payload"] * 2


def test_a_second_401_is_returned_not_retried_again(
    endpoints: Endpoints, make_auth: AuthFactory
) -> None:
    endpoints.api_override = (401, INVALID_TOKEN)
    with api_client(endpoints, make_auth()) as client:
        answer = client.get("/orders")

    assert answer.status_code == 401
    assert endpoints.api_calls == 2
    assert endpoints.token_calls == 2


async def test_a_second_401_is_returned_not_retried_again_async(
    endpoints: Endpoints, make_async_auth: AuthFactory
) -> None:
    endpoints.api_override = (401, INVALID_TOKEN)
    async with async_api_client(endpoints, make_async_auth()) as client:
        answer = await client.get("/orders")

    assert answer.status_code == 401
    assert (endpoints.api_calls, endpoints.token_calls) == (2, 2)


@pytest.mark.parametrize(
    ("status", "challenge", "retried"),
    [
        (401, 'Basic realm="x", Bearer error="invalid_token"', True),
        (401, "bearer error=invalid_token", True),
        (401, 'Bearer realm="api"', False),
        (401, 'Bearer realm="a, error=\\"invalid_token\\""', False),
        (401, 'Newauth error="invalid_token"', False),
        (403, 'Bearer error="insufficient_scope", scope="orders:write"', False),
    ],
)
def test_only_a_bearer_invalid_token_challenge_is_retried(
    endpoints: Endpoints, make_auth: AuthFactory, status: int, challenge: str, retried: bool
) -> None:
    endpoints.api_override = (status, challenge)
    with api_client(endpoints, make_auth()) as client:
        assert client.get("/orders").status_code == status

    assert endpoints.api_calls == (2 if retried else 1)
    assert endpoints.token_calls == (2 if retried else 1)


def test_a_streamed_body_is_not_replayed(endpoints: Endpoints, make_auth: AuthFactory) -> None:
    """The 401 is returned and the token dropped: the next request fetches a new one."""

    def upload() -> Iterator[bytes]:
        yield b"part one, "
        yield b"part two"

    with api_client(endpoints, make_auth()) as client:
        client.get("/orders")
        endpoints.revoke_all()
        answer = client.post("/upload", content=upload())
        assert answer.status_code == 401
        assert endpoints.token_calls == 1
        assert client.get("/orders").status_code == 200

    assert endpoints.token_calls == 2
    assert endpoints.api_bodies[1] == b"part one, part two"


async def test_a_streamed_body_is_not_replayed_async(
    endpoints: Endpoints, make_async_auth: AuthFactory
) -> None:
    async def upload() -> AsyncIterator[bytes]:
        yield b"chunk"

    async with async_api_client(endpoints, make_async_auth()) as client:
        await client.get("/orders")
        endpoints.revoke_all()
        assert (await client.post("/upload", content=upload())).status_code == 401
        assert (endpoints.api_calls, endpoints.token_calls) == (2, 1)


# --- failures of the token endpoint (RFC 6749 §5.2) --------------------------------------------


@dataclass(frozen=True)
class Failure:
    status: int
    oauth_error: str | None
    in_message: str


@pytest.mark.parametrize(
    ("server", "options", "expected"),
    [
        pytest.param(
            {},
            {"scope": "orders:read admin"},
            Failure(400, "invalid_scope", "400 invalid_scope: The scope admin is not granted."),
            id="400 invalid_scope",
        ),
        pytest.param(
            {},
            {"client_secret": SECRET + "x"},
            Failure(401, "invalid_client", "401 invalid_client: Client authentication failed."),
            id="401 invalid_client",
        ),
        pytest.param(
            {"raw_token_response": (200, "text/html", b"<p>hi</p>")},
            {},
            Failure(200, None, "no access_token"),
            id="non-JSON 200",
        ),
        pytest.param(
            {"raw_token_response": (500, "text/plain", b"oops")},
            {},
            Failure(500, None, "500 without an OAuth error"),
            id="500 without an OAuth error",
        ),
        pytest.param(
            {"token_fields": {"access_token": OMIT}},
            {},
            Failure(200, None, "no access_token"),
            id="missing access_token",
        ),
        pytest.param(
            {"token_fields": {"access_token": "two\nlines"}},
            {},
            Failure(200, None, "no access_token of RFC 6750"),
            id="access_token outside b64token",
        ),
        pytest.param(
            {"token_fields": {"token_type": "mac"}},
            {},
            Failure(200, None, "token_type other than Bearer"),
            id="token_type mac",
        ),
        pytest.param(
            {"token_fields": {"expires_in": -5}},
            {},
            Failure(200, None, "not a positive number"),
            id="expires_in negative",
        ),
        pytest.param(
            {"token_fields": {"expires_in": "3600"}},
            {},
            Failure(200, None, "not a number"),
            id="expires_in a string",
        ),
    ],
)
def test_token_endpoint_failures_raise_token_request_failed(
    endpoints: Endpoints,
    make_auth: AuthFactory,
    server: dict[str, Any],
    options: dict[str, Any],
    expected: Failure,
) -> None:
    for name, value in server.items():
        setattr(endpoints, name, value)
    with api_client(endpoints, make_auth(**options)) as client:
        with pytest.raises(TokenRequestFailed) as caught:
            client.get("/orders")

    failure = caught.value
    assert (failure.http_status, failure.oauth_error) == (expected.status, expected.oauth_error)
    assert expected.in_message in str(failure)
    assert failure.detail is not None and endpoints.token_url in failure.detail
    assert failure.description == "Could not obtain an access token from the token endpoint."
    assert endpoints.api_calls == 0


async def test_invalid_client_carries_the_oauth_error_async(
    endpoints: Endpoints, make_async_auth: AuthFactory
) -> None:
    auth = make_async_auth(client_secret=SECRET + "x")
    async with async_api_client(endpoints, auth) as client:
        with pytest.raises(TokenRequestFailed) as caught:
            await client.get("/orders")

    assert caught.value.oauth_error == "invalid_client"
    assert caught.value.error_description == "Client authentication failed."
    assert caught.value.http_status == 401


def test_the_secret_is_never_in_repr_errors_or_logs(
    endpoints: Endpoints, make_auth: AuthFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Not even when the endpoint echoes the secret it was sent back in its description."""
    caplog.set_level(logging.DEBUG)
    endpoints.echo_secret = True
    wrong = SECRET + "x"
    auth = make_auth(client_secret=wrong)
    with api_client(endpoints, auth) as client, pytest.raises(TokenRequestFailed) as caught:
        client.get("/orders")

    failure = caught.value
    texts = [repr(auth), str(failure), repr(failure), str(failure.args), failure.detail or ""]
    texts += [str(failure.error_description), caplog.text]
    for text in texts:
        assert wrong not in text
        assert SECRET not in text
    assert repr(auth) == (
        f"ClientCredentialsAuth(token_url={endpoints.token_url!r}, client_id={CLIENT_ID!r})"
    )
    assert "[redacted]" in str(failure.error_description)


def test_tokens_are_not_logged(
    endpoints: Endpoints, make_auth: AuthFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with api_client(endpoints, make_auth()) as client:
        client.get("/orders")

    assert endpoints.issued[0] not in caplog.text
    assert SECRET not in caplog.text


def test_network_errors_propagate_as_httpx_errors() -> None:
    auth = ClientCredentialsAuth(f"http://127.0.0.1:{closed_port()}/token", CLIENT_ID, SECRET)
    try:
        with (
            httpx.Client(auth=auth, timeout=5.0, verify=TLS) as client,
            pytest.raises(httpx.ConnectError),
        ):
            client.get(f"http://127.0.0.1:{closed_port()}/api")
    finally:
        auth.close()


@pytest.mark.parametrize(
    "options",
    [
        {"token_url": "http://auth.example.test/token"},
        {"client_secret": ""},
        {"resource": "https://orders.example.test/#fragment"},
        {"resource": ["orders"]},
        {"auth_method": "private_key_jwt"},
        {"renew_before": -1},
    ],
)
def test_unsafe_or_invalid_configuration_is_refused(options: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {
        "token_url": "https://auth.example.test/token",
        "client_secret": SECRET,
        **options,
    }
    with pytest.raises(ConfigurationError):
        ClientCredentialsAuth(client_id=CLIENT_ID, **arguments)


# --- closing --------------------------------------------------------------------------------


def test_close_closes_the_token_client_and_a_later_request_opens_another(
    endpoints: Endpoints, make_auth: AuthFactory
) -> None:
    auth = make_auth()
    with api_client(endpoints, auth) as client:
        client.get("/orders")
        assert endpoints.wait_for_connections("token", 1)

        auth.close()
        assert endpoints.wait_for_connections("token", 0)
        auth.close()  # idempotent

        endpoints.revoke_all()
        assert client.get("/orders").status_code == 200
        assert endpoints.token_calls == 2
        assert endpoints.open_connections("api") == 1


async def test_aclose_closes_the_async_token_client(
    endpoints: Endpoints, make_async_auth: AuthFactory
) -> None:
    auth = make_async_auth()
    async with async_api_client(endpoints, auth) as client:
        await client.get("/orders")
        assert endpoints.wait_for_connections("token", 1)

        await auth.aclose()
        assert await asyncio.to_thread(endpoints.wait_for_connections, "token", 0)

        endpoints.revoke_all()
        assert (await client.get("/orders")).status_code == 200
        assert endpoints.token_calls == 2
