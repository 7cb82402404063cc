"""Attack: a client whose id equals a user's id (RFC 9068 §5). A client-credentials token's
``sub`` is its client id; a client registered under a user's id got tokens whose ``sub`` named
that user, and ``/auth/me`` answered as them.

Now client ids and user ids live in disjoint namespaces (user ids start ``usr_``, which no
client id may), and even a client record made under such an id outside the registry (an old
database) gets no token the account API accepts."""

from __future__ import annotations

import dataclasses

import pytest

from ostiary.errors import InvalidClientMetadata
from tests.http._oauth import (
    API,
    basic,
    oauth_server_fixture,  # noqa: F401 (the server fixture)
    service_client,
)
from tests.http._server import Server, bearer


async def alice(server: Server) -> str:
    return (await server.services.accounts.get_by_username("alice")).id


async def test_a_client_cannot_be_registered_under_a_users_id(server: Server) -> None:
    with pytest.raises(InvalidClientMetadata, match="user ids"):
        await service_client(server, await alice(server))
    with pytest.raises(InvalidClientMetadata, match="user ids"):
        await service_client(server, "usr_not_yet_anyone")


async def test_a_client_stored_under_a_users_id_gets_nothing_of_the_account_api(
    server: Server,
) -> None:
    user_id = await alice(server)
    svc = await service_client(server, "svc", audiences=(API,))
    # Planted directly in the store, as an old database or another tool could have it.
    await server.services.storage.clients.create(dataclasses.replace(svc.client, id=user_id))
    answer = await server.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(user_id, basic(svc)[1]),
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]

    me = await server.client.get("/auth/me", headers=bearer(token))

    assert me.status_code == 401
    assert user_id not in me.text
