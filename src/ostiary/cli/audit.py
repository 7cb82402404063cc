"""``ostiary audit``: the audit trail, for the operator; and what the other commands record
in it (their actor is ``operator``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Annotated, Final

import typer

from ostiary.cli._server import load_settings, with_storage
from ostiary.clock import SYSTEM_CLOCK
from ostiary.storage import Storage

app = typer.Typer(help="The audit trail.", no_args_is_help=True)

#: How often ``tail --follow`` asks for new events.
FOLLOW_INTERVAL_SECONDS: Final = 1.0
_PAGE: Final = 500


async def record(
    storage: Storage,
    kind: str,
    *,
    subject: str | None,
    data: Mapping[str, str] | None = None,
) -> None:
    """Record what a command did, as the ``operator``, from this machine."""
    from ostiary.audit import OPERATOR, AuditTrail

    trail = AuditTrail(storage.audit, clock=SYSTEM_CLOCK)
    await trail.record(kind, actor=OPERATOR, subject=subject, user_agent="ostiary-cli", data=data)
    await trail.drain()  # stored before the command closes the storage


@app.command()
def tail(
    since: Annotated[int, typer.Option("--since", min=0, help="Events after this seq.")] = 0,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind.")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="Only this subject.")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only this actor.")] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=100_000, help="At most this many events.")
    ] = 100,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep printing new events (Ctrl-C to stop).")
    ] = False,
) -> None:
    """Print audit events as JSON lines, oldest first."""
    from ostiary.audit import event_line

    settings = load_settings()

    async def work(storage: Storage) -> None:
        cursor, left = since, limit
        while True:
            events = await storage.audit.query(
                since_seq=cursor, kind=kind, subject=subject, actor=actor, limit=min(left, _PAGE)
            )
            for event in events:
                typer.echo(event_line(event))
            if events:
                cursor = events[-1].seq
            left = left - len(events) if not follow else limit
            if not follow and (left <= 0 or len(events) < _PAGE):
                return
            if follow and not events:
                await asyncio.sleep(FOLLOW_INTERVAL_SECONDS)

    try:
        with_storage(settings, work)
    except KeyboardInterrupt:
        return
