"""Fixtures of the interoperability tests: the local JWKS server, and Node with jose,
openid-client, oauth4webapi and oidc-provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.interop.support import JWKSServer, NodeJose, NodeScripts, NodeUnavailable


@pytest.fixture(scope="session")
def jwks_server() -> Iterator[JWKSServer]:
    """One HTTP server on 127.0.0.1 for the session; stopped at teardown."""
    server = JWKSServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def node_jose() -> NodeJose:
    """Node with the pinned jose installed (``npm install`` only when needed).

    Without node or npm, or when the install fails, the Node tests skip on a developer's
    machine and fail under CI (see tests/conftest.py).
    """
    try:
        return NodeScripts.prepare("jose")
    except NodeUnavailable as exc:
        pytest.skip(f"Node jose interop tests: {exc}")


@pytest.fixture(scope="session")
def node_openid_client() -> NodeScripts:
    """Node with the pinned openid-client installed; skips (fails under CI) as ``node_jose``."""
    try:
        return NodeScripts.prepare("openid-client")
    except NodeUnavailable as exc:
        pytest.skip(f"openid-client interop tests: {exc}")


@pytest.fixture(scope="session")
def node_oauth4webapi() -> NodeScripts:
    """Node with the pinned oauth4webapi installed; skips (fails under CI) as ``node_jose``."""
    try:
        return NodeScripts.prepare("oauth4webapi")
    except NodeUnavailable as exc:
        pytest.skip(f"oauth4webapi interop tests: {exc}")


@pytest.fixture(scope="session")
def node_oidc_provider() -> NodeScripts:
    """Node with the pinned oidc-provider installed; skips (fails under CI) as ``node_jose``."""
    try:
        return NodeScripts.prepare("oidc-provider")
    except NodeUnavailable as exc:
        pytest.skip(f"oidc-provider interop tests: {exc}")
