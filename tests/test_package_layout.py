"""What the package holds: its data files are declared, and it carries what users run."""

from __future__ import annotations

import ast
import fnmatch
import re
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


# --------------------------------------------------------------------------- what users run

#: The team's experiments, which live in benchmarks/ and must not ship in the wheel.
TEAM_MODULES = ("levers", "tf_worker", "tf_predict", "reject_methods")


def test_the_package_holds_no_team_experiments():
    import importlib.util

    for name in TEAM_MODULES:
        assert not (PACKAGE / "bench" / f"{name}.py").exists()
        assert importlib.util.find_spec(f"cnnedge.bench.{name}") is None
        assert (ROOT / "benchmarks" / f"{name}.py").is_file()


#: Words of the team's tracker and history that mean nothing to a user.
TEAM_WORDS = re.compile(
    r"\bissue\s+#?\d+|\bbefore issue\b|\b(the|this|that|an?) issue\b|\b0\.1 export\b"
    r"|\bcnnedge 0\.1\b|\bspeed issue\b",
    re.IGNORECASE,
)


def team_words(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".py", ".md", ".html", ".json", ".txt") or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if TEAM_WORDS.search(line):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def test_the_package_speaks_to_users_not_to_the_team():
    """No issue numbers or version nicknames in code, CLI output or result files: all of
    them come from the package's sources."""
    assert team_words(PACKAGE) == []


def test_the_team_words_check_finds_them(tmp_path):
    (tmp_path / "a.py").write_text('NOTE = "before issue 9: the 0.1 export"\n# tf2onnx issues\n')
    assert team_words(tmp_path) == ['a.py:1: NOTE = "before issue 9: the 0.1 export"']


# --------------------------------------------------------------------------- the benchmark code

BENCH_CODE = [*sorted((PACKAGE / "bench").glob("*.py")), PACKAGE / "cli" / "_benchmark.py"]


def long_functions(paths: list[Path], limit: int = 100) -> list[str]:
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([d.lineno for d in node.decorator_list] + [node.lineno])
                length = node.end_lineno - start + 1
                if length > limit:
                    found.append(f"{path.parent.name}/{path.name}:{node.name} ({length} lines)")
    return found


def test_no_function_is_over_100_lines():
    """Every function of the package reads at once, the command-line ones included."""
    assert long_functions(sorted(PACKAGE.rglob("*.py"))) == []


def test_the_length_check_finds_a_long_function(tmp_path):
    sample = tmp_path / "long.py"
    sample.write_text("def f():\n" + "    x = 1\n" * 100 + "\n\ndef g():\n    pass\n")
    assert long_functions([sample]) == [f"{tmp_path.name}/long.py:f (101 lines)"]


def private_uses(paths: list[Path], *, own: str | None = None) -> list[str]:
    """Private things of other modules that ``paths`` reach: ``obj._name`` on anything but
    ``self``/``cls``, ``from module import _name`` (but for a module of the file's own
    package, or ``own``, or a top-level helper such as ``cnnedge._atomic``), and any import
    from a private module of another package (``cnnedge.export._optimize``)."""
    found = []
    for path in paths:
        package = own or f"cnnedge.{path.parent.name}"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                owner = node.value
                if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                    found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cnnedge"):
                module = node.module or ""
                if not _reachable(module, package):
                    found.append(f"{path.name}:{node.lineno}: {module}")
                    continue
                for alias in node.names:
                    name = f"{module}.{alias.name}"
                    if _private(alias.name) and not (
                        _is_module(name) and _reachable(name, package)
                    ):
                        found.append(f"{path.name}:{node.lineno}: {name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("cnnedge") and not _reachable(alias.name, package):
                        found.append(f"{path.name}:{node.lineno}: {alias.name}")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _reachable(module: str, own: str) -> bool:
    """Whether code of the package ``own`` may import from ``module``: public modules, its
    own package's private ones, and the private helpers at the top (``cnnedge._text``)."""
    parts = module.split(".")
    if not any(_private(part) for part in parts):
        return True
    return module.startswith(own + ".") or (len(parts) == 2 and _private(parts[1]))


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def test_the_benchmark_uses_public_apis_only():
    """`cnnedge benchmark` reads nothing private of the classifier or the export (its own
    modules and the package's private helpers, such as ``cnnedge._atomic``, are imported
    as modules)."""
    assert private_uses(BENCH_CODE) == []


def test_the_command_line_uses_public_apis_only():
    """The commands call the library as an app would (their own helpers aside)."""
    assert private_uses(sorted((PACKAGE / "cli").glob("*.py"))) == []


def test_the_private_use_check_finds_them(tmp_path):
    sample = tmp_path / "uses.py"
    sample.write_text(
        "from cnnedge.export import _optimize, compare\n"
        "from cnnedge.edge._stabilize import StabilizerConfig\n"
        "from cnnedge.bench import _sections\n"
        "from cnnedge import _atomic\n"
        "import cnnedge.export._parity\n"
        "def f(clf, self):\n    self._ok = clf._session\n    return clf.__class__\n"
    )
    assert private_uses([sample], own="cnnedge.bench") == [
        "uses.py:1: cnnedge.export._optimize",
        "uses.py:2: cnnedge.edge._stabilize",
        "uses.py:5: cnnedge.export._parity",
        "uses.py:7: clf._session",
    ]


# --------------------------------------------------------------------------- types


def test_the_types_are_checked_by_make_test():
    """mypy is configured for the package and `make test` (what CI runs) runs it."""
    tomllib = pytest.importorskip("tomllib", reason="reads pyproject.toml with Python 3.11+")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["mypy"]["files"] == ["src/cnnedge"]
    assert any(
        dep.startswith("mypy") for dep in pyproject["project"]["optional-dependencies"]["dev"]
    )
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ntest: ", 1)[1].split("\n\n", 1)[0]
    assert "$(BIN)/mypy" in [line.strip() for line in recipe.splitlines()[1:]]


def test_require_returns_the_module():
    import typing
    from types import ModuleType

    from cnnedge.errors import require

    assert typing.get_type_hints(require)["return"] is ModuleType
    assert require("json", extra="dev", purpose="Testing").dumps([]) == "[]"
