"""What the package holds: its data files are declared, and it carries what users run."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "cnnedge"


def _package_data_globs() -> list[str]:
    tomllib = pytest.importorskip("tomllib", reason="reads pyproject.toml with Python 3.11+")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return pyproject["tool"]["setuptools"]["package-data"]["cnnedge"]


def test_every_data_file_is_declared_package_data():
    """A file the package reads at run time (the browser page, the bundled models) reaches
    the wheel only when pyproject.toml declares it."""
    globs = _package_data_globs()
    data = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    ]
    assert "edge/view.html" in data
    undeclared = [name for name in data if not any(fnmatch.fnmatch(name, g) for g in globs)]
    assert undeclared == []


def test_the_browser_page_is_a_file_not_code():
    from cnnedge.edge import serve

    source = (PACKAGE / "edge" / "serve.py").read_text(encoding="utf-8")
    assert "<html" not in source
    page = serve.ServeSink("0").page()
    assert page.startswith("<!doctype html>")
    assert "{{" not in page  # every placeholder filled
