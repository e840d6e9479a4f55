"""The public surface is deliberate: every package's ``__all__`` is checked against what its
modules define and export, the errors are all reachable from the top, and the docs speak
only of public names.

Nothing here copies a list of names: each rule is read from the modules themselves (their
``__all__``, their definitions) and from the README and docs.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import cnnedge
import cnnedge.errors
from cnnedge.errors import MissingDependencyError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "cnnedge"
PACKAGES = sorted(
    ".".join(("cnnedge", *path.parent.relative_to(PACKAGE).parts))
    for path in PACKAGE.rglob("__init__.py")
)
MODULES = sorted(
    ".".join(("cnnedge", *path.relative_to(PACKAGE).with_suffix("").parts))
    for path in PACKAGE.rglob("*.py")
    if path.name != "__init__.py"
)


def _import(name: str) -> ModuleType | None:
    """The module, or None when it needs an extra that is not installed (the base install
    has no TensorFlow or onnx): its names are checked where the extras are."""
    try:
        return importlib.import_module(name)
    except MissingDependencyError:
        return None
    except ImportError as exc:
        if (exc.name or "").split(".")[0] == "cnnedge":
            raise
        return None


def _is_private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _submodules(package: ModuleType) -> dict[str, ModuleType]:
    found = {}
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        module = _import(info.name)
        if module is not None:
            found[info.name] = module
    return found


def _defined_in(package: ModuleType) -> set[str]:
    """Names the package's ``__init__`` itself binds (assignments, functions, classes)."""
    tree = ast.parse(Path(package.__file__).read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _homes(package: ModuleType, name: str) -> list[str]:
    """The modules that list ``name`` in their ``__all__`` and hold the same object: the
    package's own, or the public module that defines it (``cnnedge.train`` passing on
    ``cnnedge.data.load_mnist``)."""
    value = getattr(package, name)
    candidates = dict(_submodules(package))
    defined_in = getattr(value, "__module__", None) or ""
    if defined_in.startswith("cnnedge.") and not any(map(_is_private, defined_in.split("."))):
        candidates[defined_in] = importlib.import_module(defined_in)
    return [
        module_name
        for module_name, module in candidates.items()
        if name in getattr(module, "__all__", ()) and getattr(module, name, None) is value
    ]


# --------------------------------------------------------------------------- the packages


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_comes_from_a_module_that_exports_it(name):
    package = _import(name)
    if package is None:
        pytest.skip(f"{name} needs an extra that is not installed")
    assert package.__all__, f"{name} declares no public names"
    assert len(set(package.__all__)) == len(package.__all__)
    own = _defined_in(package)
    orphans = []
    for public in package.__all__:
        try:
            getattr(package, public)
        except ImportError:
            continue  # its module needs an extra that is not installed
        if public not in own and not _homes(package, public):
            orphans.append(public)
    assert orphans == [], f"{name} exports names no module of it exports"


@pytest.mark.parametrize("name", PACKAGES)
def test_dir_lists_every_public_name(name):
    package = _import(name)
    if package is None:
        pytest.skip(f"{name} needs an extra that is not installed")
    assert sorted(set(package.__all__) - set(dir(package))) == []


@pytest.mark.parametrize("name", PACKAGES)
def test_a_private_module_gives_its_package_only_what_the_package_exports(name):
    """A private module that provides some of its package's names declares no others in
    ``__all__``: what it declares there is public through the package, or not at all."""
    package = _import(name)
    if package is None:
        pytest.skip(f"{name} needs an extra that is not installed")
    exported = set(package.__all__)
    half_public = {}
    for module_name, module in _submodules(package).items():
        declared = set(getattr(module, "__all__", ()))
        private = _is_private(module_name.rsplit(".", 1)[1])
        if private and declared & exported and declared - exported:
            half_public[module_name] = sorted(declared - exported)
    assert half_public == {}


@pytest.mark.parametrize("name", [m for m in MODULES if not any(map(_is_private, m.split(".")))])
def test_a_public_module_declares_what_it_exports(name):
    module = _import(name)
    if module is None:
        pytest.skip(f"{name} needs an extra that is not installed")
    assert hasattr(module, "__all__"), f"{name} is public but declares no __all__"
    assert sorted(n for n in module.__all__ if not hasattr(module, n)) == []


# --------------------------------------------------------------------------- the top level


def _error_classes() -> set[str]:
    return {
        name
        for name, value in inspect.getmembers(cnnedge.errors, inspect.isclass)
        if issubclass(value, Exception) and value.__module__ == "cnnedge.errors"
    }


def test_every_error_class_can_be_imported_from_cnnedge():
    classes = _error_classes()
    assert "SystemLibraryError" in classes  # the scan really found the tree
    assert classes == set(cnnedge.errors.__all__)
    assert sorted(classes - set(cnnedge.__all__)) == []
    for name in classes:
        assert getattr(cnnedge, name) is getattr(cnnedge.errors, name)


def test_dir_of_cnnedge_shows_the_runner_without_loading_it():
    assert "DigitClassifier" in dir(cnnedge)
    assert cnnedge.DigitClassifier is cnnedge.edge.DigitClassifier


# --------------------------------------------------------------------------- the docs

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# `cnnedge.edge.annotate.ResultSaver` in prose; the CLI's `cnnedge webcam` is not a name.
DOTTED = re.compile(r"`(cnnedge(?:\.\w+)+)")


def _metadata_keys() -> set[str]:
    """The keys of a model's cnnedge metadata (``cnnedge.input_range``): not Python names."""
    from cnnedge.edge import ModelMetadata
    from cnnedge.edge._metadata import PREFIX

    return {PREFIX + field.name for field in dataclasses.fields(ModelMetadata)}


def _names_in_docs(paths: list[Path]) -> list[tuple[str, str]]:
    """(where, dotted name) for every cnnedge name the docs import or mention."""
    found = []
    keys = _metadata_keys()
    for path in paths:
        text = path.read_text(encoding="utf-8")
        for match in DOTTED.finditer(text):
            if match.group(1) not in keys:
                found.append((path.name, match.group(1)))
        for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
            for node in ast.walk(ast.parse(block)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cnnedge"):
                    found += [(path.name, f"{node.module}.{a.name}") for a in node.names]
                elif isinstance(node, ast.Import):
                    found += [(path.name, a.name) for a in node.names if "cnnedge" in a.name]
    return found


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] != "cnnedge":
                return True  # needs an extra that is not installed here
            continue
        for attribute in parts[cut:]:
            if not hasattr(value, attribute):
                return False
            value = getattr(value, attribute)
        return True
    return False


def test_the_docs_speak_only_of_public_names_that_exist():
    """The README and docs are the reference of what is API: they import and mention only
    public modules and names, and each of them exists."""
    names = _names_in_docs(DOCS)
    assert ("README.md", "cnnedge.edge.DigitClassifier") in names  # the scan really ran
    assert [(doc, n) for doc, n in names if any(map(_is_private, n.split(".")))] == []
    assert [(doc, n) for doc, n in names if not _resolves(n)] == []


def test_the_docs_check_finds_private_and_missing_names(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "See `cnnedge.edge._info` and `cnnedge.edge.nothing_here`.\n\n"
        "```python\nfrom cnnedge.edge import DigitClassifier\n```\n",
        encoding="utf-8",
    )
    names = [n for _, n in _names_in_docs([doc])]
    assert names == [
        "cnnedge.edge._info",
        "cnnedge.edge.nothing_here",
        "cnnedge.edge.DigitClassifier",
    ]
    assert [n for n in names if not _resolves(n)] == ["cnnedge.edge.nothing_here"]
