"""The root Typer app: ``ostiary serve``, ``doctor``, ``db``, ``users``, ``clients``, ``keys`` and
``token``."""

from __future__ import annotations

import typer

from ostiary.cli import audit, clients, db, devcert, doctor, keys, serve, token, users

app = typer.Typer(
    name="ostiary",
    help="Ostiary: a JWT authentication server and resource-server toolkit.",
    no_args_is_help=True,
    add_completion=False,
    # Click's plain help and usage errors: Rich's tables cut long option names at 80 columns
    # and label every flag <bool>.
    rich_markup_mode=None,
    # Locals of a crashed command may hold a token or a private key: never print them.
    pretty_exceptions_show_locals=False,
)
app.command("serve")(serve.serve)
app.command("dev-cert")(devcert.dev_cert)
app.command("doctor")(doctor.doctor)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(clients.app, name="clients")
app.add_typer(keys.app, name="keys")
app.add_typer(token.app, name="token")
app.add_typer(audit.app, name="audit")
