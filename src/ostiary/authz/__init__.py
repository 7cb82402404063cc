"""Scopes and roles: parsing and matching, shared by the server and the resource toolkit."""

from __future__ import annotations

from ostiary.authz.scopes import format_scope, missing, parse_scope

__all__ = ["format_scope", "missing", "parse_scope"]
