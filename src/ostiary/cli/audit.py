"""``ostiary audit``: the audit trail, for the operator; and what the other commands record
in it (their actor is ``operator``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Annotated, Final

import typer

from ostiary.cli._command_setup import operator_settings, with_storage
from ostiary.cli._output import note, print_json_line
from ostiary.clock import SYSTEM_CLOCK
from ostiary.storage import Storage
from ostiary.storage.records import AuditEvent

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
    since: Annotated[
        int | None,
        typer.Option(
            "--since",
            min=0,
            metavar="SEQ",
            help="Start after this seq: the first --limit events after it (to resume where an "
            "earlier run stopped), not the last.",
            show_default=False,
        ),
    ] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", metavar="KIND", help="Only this kind.")
    ] = None,
    subject: Annotated[
        str | None, typer.Option("--subject", metavar="ID", help="Only this subject.")
    ] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", metavar="ID", help="Only this actor.")
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            "-n",
            min=0,
            max=100_000,
            metavar="N",
            help="How many events to print first (0: none, with --follow only new ones).",
        ),
    ] = 100,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Then keep printing new events (Ctrl-C to stop)."),
    ] = False,
) -> None:
    """Print the last audit events as JSON lines, oldest of them first, like tail."""
    settings = operator_settings()
    filters = AuditFilters(kind=kind, subject=subject, actor=actor)

    async def work(storage: Storage) -> None:
        if since is None:
            cursor = await _print_latest(storage, filters, limit=limit)
        else:
            cursor = await _print_after(storage, filters, since=since, limit=limit)
        if follow:
            note("following new events; Ctrl-C to stop")
            await _follow(storage, filters, cursor=cursor)

    try:
        with_storage(settings, work)
    except KeyboardInterrupt:
        return


@dataclass(frozen=True, slots=True)
class AuditFilters:
    kind: str | None
    subject: str | None
    actor: str | None


async def _print_latest(storage: Storage, filters: AuditFilters, *, limit: int) -> int:
    """Print the last ``limit`` events; the seq to follow from (the last one matching, even
    when ``limit`` is 0)."""
    events = await storage.audit.query(latest=True, limit=max(limit, 1), **asdict(filters))
    shown = events[-limit:] if limit else []
    _print(shown)
    return events[-1].seq if events else 0


async def _print_after(storage: Storage, filters: AuditFilters, *, since: int, limit: int) -> int:
    """Print the first ``limit`` events after ``since``, a page at a time; the last seq."""
    cursor, left = since, limit
    while left > 0:
        events = await storage.audit.query(
            since_seq=cursor, limit=min(left, _PAGE), **asdict(filters)
        )
        _print(events)
        if events:
            cursor = events[-1].seq
        left -= len(events)
        if len(events) < _PAGE:
            break
    return cursor


async def _follow(storage: Storage, filters: AuditFilters, *, cursor: int) -> None:
    """Print every event after ``cursor`` as it comes, until interrupted."""
    while True:
        events = await storage.audit.query(since_seq=cursor, limit=_PAGE, **asdict(filters))
        _print(events)
        if events:
            cursor = events[-1].seq
        if len(events) < _PAGE:
            await asyncio.sleep(FOLLOW_INTERVAL_SECONDS)


def _print(events: Sequence[AuditEvent]) -> None:
    from ostiary.audit import event_fields

    for event in events:
        print_json_line(event_fields(event))
