"""``ostiary clients create --dpop-bound-access-tokens`` and ``ostiary clients require-dpop``:
RFC 9449 §5.2's ``dpop_bound_access_tokens``, set at registration or later, shown, audited."""

from __future__ import annotations

from typer.testing import CliRunner

from ostiary.cli.app import app
from tests.unit.cli.test_clients import WEB_APP, create, run, stored


def test_a_client_registered_to_require_dpop(runner: CliRunner, env: dict[str, str]) -> None:
    shown = create(
        runner, "SPA", "--id", "spa", "--auth-method", "none", "--redirect-uri", WEB_APP,
        "--dpop-bound-access-tokens",
    )  # fmt: skip
    assert shown["dpop_bound_access_tokens"] is True
    client = stored(env, "spa")
    assert client is not None and client.dpop_bound_access_tokens
    plain = create(runner, "Service", "--id", "svc")
    assert plain["dpop_bound_access_tokens"] is False


def test_require_dpop_turns_it_on_and_off(runner: CliRunner, env: dict[str, str]) -> None:
    create(runner, "Service", "--id", "svc")
    code, shown, stderr = run(runner, "require-dpop", "svc")
    assert code == 0, stderr
    assert shown["dpop_bound_access_tokens"] is True
    client = stored(env, "svc")
    assert client is not None and client.dpop_bound_access_tokens
    code, shown, _ = run(runner, "require-dpop", "svc", "--off")
    assert (code, shown["dpop_bound_access_tokens"]) == (0, False)
    client = stored(env, "svc")
    assert client is not None and not client.dpop_bound_access_tokens
    result = runner.invoke(app, ["audit", "tail"])
    assert result.stdout.count('"client.dpop"') == 2, result.stdout


def test_require_dpop_of_an_unknown_client_fails(runner: CliRunner, env: dict[str, str]) -> None:
    code, output, stderr = run(runner, "require-dpop", "nobody")
    assert (code, output) == (1, None)
    assert stderr == "error: There is no client nobody.\n"
