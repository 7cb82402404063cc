"""``pip install 'ostiary[fastapi]'`` is enough for ``import ostiary.resource.fastapi``, and
``'ostiary[flask]'`` for ``ostiary.resource.flask``: each integration imports in a fresh
interpreter that sees only the distributions the base install and its extra bring."""

from __future__ import annotations

from pathlib import Path

import pytest

from .._installs import closure, import_with_only, requirements


@pytest.mark.parametrize(
    ("extra", "module"),
    [("fastapi", "ostiary.resource.fastapi"), ("flask", "ostiary.resource.flask")],
)
def test_the_extra_brings_what_the_integration_imports(
    extra: str, module: str, tmp_path: Path
) -> None:
    done = import_with_only(module, closure(requirements(extra)), tmp_path)
    assert done.returncode == 0, done.stderr


def test_the_check_sees_an_integration_without_its_extra(tmp_path: Path) -> None:
    """The base install alone does not cover the FastAPI integration: the check works."""
    done = import_with_only("ostiary.resource.fastapi", closure(requirements(None)), tmp_path)
    assert done.returncode == 1
    assert "ModuleNotFoundError: No module named 'fastapi'" in done.stderr
