"""The auth server: the FastAPI app :func:`create_app` builds from
:class:`~ostiary.settings.Settings`."""

from __future__ import annotations

from ostiary.server.app import create_app

__all__ = ["create_app"]
