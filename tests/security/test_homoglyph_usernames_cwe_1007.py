"""CWE-1007 (insufficient visual distinction of homoglyphs), UTS #39: a username that looks
like an existing one (``admin`` spelt with a dotless i U+0131, a Cyrillic a U+0430, an i with
a combining dot U+0307, or in fullwidth letters) registered next to it, so that an attacker
could pass for the administrator in an audit log, a session list or a support chat.

A new username is prepared as RFC 8265's UsernameCaseMapped profile says (width mapping, case
folding, NFC, no disallowed code points: spaces, controls, symbols with compatibility forms),
and restricted as UTS #39 §5.2 "single script" does: its letters come from one script (Han
with Hiragana/Katakana or Hangul counting as one), no combining mark is left on a Latin,
Greek or Cyrillic letter after NFC, and no Latin letter that exists only to look like
another (dotless i and j). What normalizes to an existing name is a 409; a look-alike is a 400.
Existing accounts log in as before: the rules apply when a name is chosen, not when one is
typed to sign in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import pytest

from ostiary.authn.accounts import check_new_username
from ostiary.errors import InvalidUsername
from tests.http._server import PASSWORD, Server, running, settings_for


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with running(settings_for(tmp_path)) as srv:
        await srv.add_user("admin", "admin")
        yield srv


async def register(server: Server, username: str) -> tuple[int, dict[str, object]]:
    answer = await server.client.post(
        "/auth/register", json={"username": username, "password": PASSWORD}
    )
    body: dict[str, object] = answer.json()
    return answer.status_code, body


IMITATES: Final = "The username holds a letter that imitates another."
MIXES: Final = "The username must not mix letters of different scripts."
INVISIBLE: Final = "The username must not contain control or invisible characters."


@pytest.mark.parametrize(
    ("look_alike", "refusal"),
    [
        ("adm\u0131n", IMITATES),  # LATIN SMALL LETTER DOTLESS I
        ("\u0430dmin", MIXES),  # CYRILLIC SMALL LETTER A
        ("admi\u0307n", IMITATES),  # i + COMBINING DOT ABOVE
        ("adm\u0130n", IMITATES),  # LATIN CAPITAL LETTER I WITH DOT ABOVE: folds to i + U+0307
        ("\u0251dmin", IMITATES),  # LATIN SMALL LETTER ALPHA (a letter of its own, IPA block)
        ("admi\u0578", MIXES),  # ARMENIAN SMALL LETTER VO for n
        ("adm\u0456n", MIXES),  # CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I
        ("\u0391dmin", MIXES),  # GREEK CAPITAL LETTER ALPHA
        ("admin\u200b", INVISIBLE),  # ZERO WIDTH SPACE
    ],
)
async def test_a_look_alike_of_an_existing_name_is_refused(
    server: Server, look_alike: str, refusal: str
) -> None:
    """Refused for what it is, before any comparison with the names taken (which would
    answer 409 ``account_exists``)."""
    status, body = await register(server, look_alike)
    assert (status, body) == (400, {"error": "invalid_request", "error_description": refusal})


@pytest.mark.parametrize("same", ["ADMIN", "\uff41\uff44\uff4d\uff49\uff4e", "Admin", " admin "])
async def test_another_spelling_of_an_existing_name_is_taken(server: Server, same: str) -> None:
    status, body = await register(server, same)
    assert (status, body["error"]) == (409, "account_exists")


@pytest.mark.parametrize(
    "username",
    [
        "bob",
        "zo\u00eb",
        "zoe\u0308",
        "\u0432\u0430\u0441\u044f",
        "\u65e5\u672c\u3054",
        "bob@example.org",
    ],
)
async def test_ordinary_names_of_any_script_register(server: Server, username: str) -> None:
    """The control case: Latin with a precomposed (or composable) diacritic, Cyrillic alone,
    Han with Hiragana, an email address."""
    status, body = await register(server, username)
    assert status == 201, body


async def test_an_existing_look_alike_still_logs_in(tmp_path: Path) -> None:
    """An account made before these rules (here: straight into the store) keeps working."""
    from dataclasses import replace

    async with running(settings_for(tmp_path)) as srv:
        user_id = await srv.add_user("legacy")
        user = await srv.services.accounts.get(user_id)
        await srv.services.accounts._users.update(replace(user, username="\u0430dmin"))
        tokens = await srv.login("\u0410DMIN")
        assert tokens["access_token"]


@pytest.mark.parametrize(
    "username", ["adm\u0131n", "\u0430dmin", "a b", "x\u2168", "\u0430\u0431c", "e\u0301\u0301"]
)
def test_check_new_username_refuses(username: str) -> None:
    with pytest.raises(InvalidUsername):
        check_new_username(username)
