"""``GET /.well-known/jwks.json``: prepared bytes with a strong ``ETag`` (RFC 9110 §8.8.3),
``If-None-Match`` answered ``304 Not Modified`` (RFC 9110 §13.1.2, §15.4.5), and a new
document, with a new tag, as soon as a key ring changes."""

from __future__ import annotations

from ostiary.server.routes.wellknown import PublishedKeys, etag_matches
from ostiary.wiring import key_services

from ._server import Server

JWKS = "/.well-known/jwks.json"


async def test_the_document_carries_a_strong_etag_that_stays_while_the_keys_do(
    server: Server,
) -> None:
    first = await server.client.get(JWKS)
    second = await server.client.get(JWKS)
    assert first.status_code == second.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert second.headers["etag"] == etag
    assert second.content == first.content
    assert first.headers["content-type"] == "application/jwk-set+json"


async def test_a_matching_if_none_match_gets_304_with_the_caching_headers_and_no_body(
    server: Server,
) -> None:
    full = await server.client.get(JWKS)
    etag = full.headers["etag"]
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        answer = await server.client.get(JWKS, headers={"If-None-Match": sent})
        assert answer.status_code == 304, sent
        assert answer.content == b""
        assert answer.headers["etag"] == etag
        assert answer.headers["cache-control"] == full.headers["cache-control"]


async def test_a_stale_or_foreign_tag_gets_the_whole_document(server: Server) -> None:
    full = await server.client.get(JWKS)
    for sent in ('"stale"', 'W/"stale"', full.headers["etag"].strip('"'), ""):
        answer = await server.client.get(JWKS, headers={"If-None-Match": sent})
        assert answer.status_code == 200, sent
        assert answer.content == full.content


async def test_a_rotation_publishes_a_new_document_under_a_new_tag(server: Server) -> None:
    before = await server.client.get(JWKS)
    access_keys = key_services(server.services)[0]
    await access_keys.rotate()
    kids = {m.kid for m in access_keys.ring}

    after = await server.client.get(JWKS, headers={"If-None-Match": before.headers["etag"]})

    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert kids <= {key["kid"] for key in after.json()["keys"]}
    assert after.json() != before.json()


def test_if_none_match_is_compared_weakly_and_star_matches_anything() -> None:
    assert etag_matches('"a"', '"a"')
    assert etag_matches('W/"a"', '"a"')
    assert etag_matches(' "b" , W/"a" ', '"a"')
    assert etag_matches("*", '"a"')
    assert not etag_matches('"b"', '"a"')
    assert not etag_matches("a", '"a"')
    assert not etag_matches("", '"a"')


async def test_a_ring_read_again_serves_the_same_document_and_is_not_compared_again(
    server: Server,
) -> None:
    """A ring read again from the store holds equal keys in new objects: the same bytes and
    tag, and from then on the prepared answers are kept against the new objects (compared by
    identity, never by the keys' equality, which computes thumbprints on every request)."""
    before = await server.client.get(JWKS)
    for service in key_services(server.services):
        await service.load()
    after = await server.client.get(JWKS)
    assert (after.content, after.headers["etag"]) == (before.content, before.headers["etag"])
    published = server.app.state.published_keys
    assert isinstance(published, PublishedKeys)
    current = [managed for service in key_services(server.services) for managed in service.ring]
    assert all(any(kept is key for kept in published.made_from) for key in current)
