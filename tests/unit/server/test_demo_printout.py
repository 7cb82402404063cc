"""What ``make run`` prints about the demo service account: the README's client-credentials
steps read ``$SERVICE_SECRET``, so the printout says how to set it, as it does for alice's
password."""

from __future__ import annotations

import os
import subprocess

from ostiary.server.demo import (
    SERVICE_CLIENT,
    DemoClients,
    DemoUser,
    alice_password_line,
    describe_clients,
    describe_users,
)

MADE_UP = "Zq3-made_up_secret_of_43_characters_xxxxxxx"


def export_lines(printed: str) -> list[str]:
    return [line.strip() for line in printed.splitlines() if line.strip().startswith("export ")]


def exported_secret(line: str, environment: dict[str, str]) -> str:
    """What ``$SERVICE_SECRET`` holds after pasting ``line`` into bash."""
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", f'{line}\nprintf %s "$SERVICE_SECRET"'],
        env={"PATH": os.environ["PATH"], **environment},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


def test_a_secret_made_up_now_is_printed_as_an_export_line() -> None:
    printed = describe_clients(DemoClients(MADE_UP, from_env=False))
    assert export_lines(printed) == [f"export SERVICE_SECRET='{MADE_UP}'"]
    assert exported_secret(export_lines(printed)[0], {}) == MADE_UP


def test_a_secret_from_the_environment_is_read_from_there() -> None:
    printed = describe_clients(DemoClients(None, from_env=True))
    assert export_lines(printed) == ['export SERVICE_SECRET="$OSTIARY_DEMO_SERVICE_SECRET"']
    given = {"OSTIARY_DEMO_SERVICE_SECRET": "s" * 40}
    assert exported_secret(export_lines(printed)[0], given) == "s" * 40


def test_a_later_start_says_which_secret_to_export() -> None:
    printed = describe_clients(DemoClients(None, from_env=False))
    (line,) = export_lines(printed)
    assert line.startswith("export SERVICE_SECRET='...'")
    assert "printed at the first start" in line


def test_a_later_start_says_how_to_reset_the_service_secret() -> None:
    printed = describe_clients(DemoClients(None, from_env=False))
    assert f"ostiary clients rotate-secret {SERVICE_CLIENT}" in printed
    assert "OSTIARY_DEMO_SERVICE_SECRET" in printed


def existing(username: str, role: str) -> DemoUser:
    env = f"OSTIARY_DEMO_{username.upper()}_PASSWORD"
    return DemoUser(username, role, env, None, created=False)


def test_a_later_start_says_how_to_set_a_new_demo_password() -> None:
    users = [existing("alice", "user"), existing("admin", "admin")]
    printed = describe_users(users)
    assert "ostiary users set-password alice" in printed
    assert "ostiary users set-password admin" in printed
    line = alice_password_line(users)
    assert "printed at the first start" in line
    assert "ostiary users set-password alice" in line


def test_the_first_start_prints_no_reset_hint() -> None:
    made_up = DemoUser("alice", "user", "OSTIARY_DEMO_ALICE_PASSWORD", "pw", created=True)
    assert "set-password" not in describe_users([made_up])
    assert "rotate-secret" not in describe_clients(DemoClients(MADE_UP, from_env=False))
