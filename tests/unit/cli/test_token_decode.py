"""``ostiary token decode``: any token shown, nothing verified, garbage refused without a crash."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import pytest
from typer.testing import CliRunner

from ostiary.cli._times import span
from ostiary.cli.app import app
from ostiary.errors import DuplicateMember, MalformedToken, TokenTooLarge
from ostiary.jose.inspect import inspect_compact

from ._helpers import MakeToken

_UTC = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: Any, payload: Any) -> str:
    """A token from JSON-able parts, or raw bytes for either, with a dummy signature."""
    parts = [p if isinstance(p, bytes) else json.dumps(p).encode() for p in (header, payload)]
    return f"{b64(parts[0])}.{b64(parts[1])}.{b64(b'sig')}"


def decode(runner: CliRunner, token: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["token", "decode", token], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_shows_header_claims_and_unverified(runner: CliRunner, make_token: MakeToken) -> None:
    code, out, err = decode(runner, make_token(sub="alice"))
    assert code == 0
    shown = json.loads(out)
    assert shown["header"]["typ"] == "at+jwt"
    assert shown["header"]["alg"] == "ES256"
    assert shown["claims"]["sub"] == "alice"
    assert "NOT checked" in shown["UNVERIFIED"]
    assert err.startswith("UNVERIFIED: ")


def test_times_in_utc_and_relative(runner: CliRunner, make_token: MakeToken) -> None:
    now = int(time.time())
    token = make_token(exp=now + 14 * 60 + 30, iat=now - 3 * 3600 - 60, nbf=now - 90)
    times = json.loads(decode(runner, token)[1])["times"]
    assert re.fullmatch(rf"{_UTC} \(expires in 14 min\)", times["exp"])
    assert re.fullmatch(rf"{_UTC} \(issued 3 h ago\)", times["iat"])
    assert re.fullmatch(rf"{_UTC} \(valid since 1 min ago\)", times["nbf"])


def test_expired_and_future_times(runner: CliRunner, make_token: MakeToken) -> None:
    now = int(time.time())
    token = make_token(exp=now - 3 * 3600 - 100, iat=now + 3 * 86400 + 100, nbf=now + 630)
    times = json.loads(decode(runner, token)[1])["times"]
    assert times["exp"].endswith("(expired 3 h ago)")
    assert times["iat"].endswith("(issued 3 d in the future)")
    assert times["nbf"].endswith("(not valid for another 10 min)")


def test_exact_utc_rendering(runner: CliRunner, make_token: MakeToken) -> None:
    times = json.loads(decode(runner, make_token(exp=1_700_000_000))[1])["times"]
    assert times["exp"].startswith("2023-11-14 22:13:20 UTC (expired ")


def test_odd_time_claims_are_described_not_fatal(runner: CliRunner, make_token: MakeToken) -> None:
    code, out, _ = decode(runner, make_token(exp="tomorrow", iat=True, nbf=10**30))
    times = json.loads(out)["times"]
    assert code == 0
    assert times["exp"] == times["iat"] == "not a NumericDate"
    assert times["nbf"] == "not a representable date"


def test_reads_the_token_from_stdin(runner: CliRunner, make_token: MakeToken) -> None:
    code, out, _ = decode(runner, "-", stdin=make_token(sub="bob") + "\n")
    assert code == 0
    assert json.loads(out)["claims"]["sub"] == "bob"


def test_shows_tokens_a_verifier_refuses(runner: CliRunner) -> None:
    token = unsigned({"alg": "none", "jku": "https://evil.test"}, {"sub": "mallory"})
    code, out, _ = decode(runner, token)
    assert code == 0
    assert json.loads(out)["header"]["alg"] == "none"


def test_terminal_controls_in_a_token_are_escaped(runner: CliRunner) -> None:
    code, out, _ = decode(runner, unsigned({"alg": "ES256"}, {"sub": "\x1b[2J\u009b\u202e"}))
    assert code == 0
    assert out.isascii()
    assert "\x1b" not in out
    assert json.loads(out)["claims"]["sub"] == "\x1b[2J\u009b\u202e"


GARBAGE = {
    "word": "garbage",
    "two segments": "eyJhbGciOiJIUzI1NiJ9.e30",
    "not base64url": "!!!.!!!.!!!",
    "header not JSON": f"{b64(b'nope')}.{b64(b'{}')}.c2ln",
    "header an array": unsigned([1], {}),
    "payload a string": unsigned({"alg": "ES256"}, "hello"),
    "payload not JSON": unsigned({"alg": "ES256"}, b"\xff\xfe"),
    "duplicate member": unsigned(b'{"alg":"ES256","alg":"none"}', {}),
    "JWE": "a.b.c.d.e",
    "non-ASCII": "\u00e9.\u00e9.\u00e9",
    "whitespace only": "   ",
}


@pytest.mark.parametrize("token", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_is_a_clear_error(runner: CliRunner, token: str) -> None:
    result = runner.invoke(app, ["token", "decode", token])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # an exit, not a crash
    assert result.stderr.startswith("error: ")
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_empty_stdin_is_a_clear_error(runner: CliRunner) -> None:
    code, _, err = decode(runner, "-", stdin="")
    assert code == 1
    assert err == "error: No token given.\n"


def test_an_error_never_repeats_the_token(runner: CliRunner) -> None:
    token = f"{b64(b'secret-looking-part')}.{b64(b'{}')}.c2ln"
    code, _, err = decode(runner, token)
    assert code == 1
    assert "secret-looking-part" not in err
    assert b64(b"secret-looking-part") not in err


def test_inspect_compact_reports_each_kind_of_damage() -> None:
    with pytest.raises(DuplicateMember) as dup:
        inspect_compact(unsigned(b'{"alg":"a","alg":"b"}', {}))
    assert dup.value.detail is not None
    assert dup.value.detail.startswith("the header: ")
    with pytest.raises(MalformedToken) as jwe:
        inspect_compact("a.b.c.d.e")
    assert "JWE" in str(jwe.value.detail)
    with pytest.raises(TokenTooLarge):
        inspect_compact("a" * 100, max_size=99)


def test_inspect_compact_takes_bytes(make_token: MakeToken) -> None:
    header, claims = inspect_compact(make_token(sub="carol").encode())
    assert header["typ"] == "at+jwt"
    assert claims["sub"] == "carol"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (59.9, "59 s"), (60, "1 min"), (7199, "119 min"), (7200, "2 h"),
     (172_799, "47 h"), (172_800, "2 d")],
)  # fmt: skip
def test_span(seconds: float, text: str) -> None:
    assert span(seconds) == text
