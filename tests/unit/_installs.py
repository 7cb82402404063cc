"""What an install of ostiary with some extras holds, and an import as if only that were
installed: the requirements of pyproject.toml (the work tree's, not the installed metadata,
which is as old as the last ``pip install``), followed through the installed distributions'
own; the import runs in a fresh interpreter where every other distribution's modules are
missing."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"

#: Imports ``argv[1]`` as if only the distributions of the top-level names not in ``argv[2]``
#: were installed: an import of any of those fails as a missing module would.
_IMPORT_WITH_ONLY = """
import importlib, json, sys

absent = set(json.loads(sys.argv[2]))


class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in absent:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
importlib.import_module(sys.argv[1])
"""


def requirements(extra: str | None, *, pyproject: Path = PYPROJECT) -> list[Requirement]:
    """The base install's requirements, and ``extra``'s."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"])
    if extra is not None:
        wanted += project["optional-dependencies"][extra]
    return [Requirement(text) for text in wanted]


def closure(wanted: list[Requirement]) -> set[str]:
    """The distributions these requirements install: names normalised, extras followed."""
    found: set[str] = set()
    pending = [(r, frozenset(r.extras)) for r in wanted]
    while pending:
        requirement, extras = pending.pop()
        name = normalised(requirement.name)
        if name in found and not extras:
            continue
        found.add(name)
        for text in importlib.metadata.requires(requirement.name) or []:
            needed = Requirement(text)
            environments = [{"extra": e} for e in extras] or [{"extra": ""}]
            if needed.marker is None or any(needed.marker.evaluate(e) for e in environments):
                pending.append((needed, frozenset(needed.extras)))
    return found


def normalised(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def import_with_only(
    module: str, installed: set[str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """Import ``module`` in a fresh interpreter that sees only the ``installed`` distributions
    (and the standard library, and ostiary itself)."""
    providers = importlib.metadata.packages_distributions()
    absent = sorted(
        name
        for name, distributions in providers.items()
        if not {normalised(d) for d in distributions} & (installed | {"ostiary"})
    )
    return subprocess.run(
        [sys.executable, "-c", _IMPORT_WITH_ONLY, module, json.dumps(absent)],
        cwd=tmp_path,  # nothing of the work tree on sys.path but the installed package
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
