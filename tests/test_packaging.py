"""The wheel and sdist build cleanly and hold what they should; ``import l0`` stays light.

The distributions are built once per run with ``uv build`` (as a release would be), into a
temporary directory.
"""

from __future__ import annotations

import email.parser
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from pathlib import Path

import msgspec
import msgspec.inspect
import pytest

ROOT = Path(__file__).resolve().parent.parent

EXTRAS = {"openai", "litellm", "otel", "sentry", "observability", "speed", "pydantic", "cli", "all"}
"""The extras promised in the README."""

HEAVY_MODULES = ("openai", "litellm", "opentelemetry", "sentry_sdk", "rich", "pydantic", "uvloop")
"""What ``import l0`` must not import: provider SDKs, telemetry, Rich, optional speed-ups."""

PUBLIC_MODULES = (
    "l0",
    "l0.adapters",
    "l0.events",
    "l0.format",
    "l0.guardrails",
    "l0.monitoring",
    "l0.structured",
    "l0.testing",
)


def _uv() -> list[str]:
    """How to run uv: the binary that runs this test session, else one on PATH."""
    for candidate in (os.environ.get("UV"), shutil.which("uv")):
        if candidate:
            return [candidate]
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    pytest.skip("uv is not installed (run the tests with `python3 -m uv run --group test pytest`)")


class Dists:
    """The built wheel and sdist."""

    def __init__(self, out: Path) -> None:
        [self.wheel] = out.glob("*.whl")
        [self.sdist] = out.glob("*.tar.gz")

    def wheel_names(self) -> list[str]:
        with zipfile.ZipFile(self.wheel) as whl:
            return whl.namelist()

    def wheel_metadata(self) -> Message:
        with zipfile.ZipFile(self.wheel) as whl:
            [name] = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
            return email.parser.Parser().parsestr(whl.read(name).decode())

    def sdist_names(self) -> list[str]:
        with tarfile.open(self.sdist) as tar:
            # "l0-0.1.0/l0/__init__.py" -> "l0/__init__.py"
            return [name.partition("/")[2] for name in tar.getnames()]


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [*_uv(), "build", "--quiet", "--out-dir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return Dists(out)


def _package_files() -> set[str]:
    """The package's own files in the source tree, as paths relative to the root."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "l0").rglob("*")
        if path.is_file() and path.suffix in {".py", ".typed"} and "__pycache__" not in path.parts
    }


def test_wheel_holds_the_package_and_nothing_else(dists: Dists) -> None:
    """The wheel has every module of l0 and py.typed, and no tests, docs or bytecode."""
    names = dists.wheel_names()
    package = {n for n in names if not n.startswith("l0-")}  # minus the .dist-info
    assert package == _package_files()
    assert "l0/py.typed" in package
    assert not [n for n in names if n.endswith((".pyc", ".pyo"))]


def test_wheel_metadata(dists: Dists) -> None:
    """Name, version, Python requirement, README as description, and the promised extras."""
    meta = dists.wheel_metadata()
    assert meta["Name"] == "l0"
    assert meta["Version"] == importlib.metadata.version("l0")
    assert meta["Requires-Python"] == ">=3.10"
    assert meta["Description-Content-Type"] == "text/markdown"
    description = meta.get_payload()
    assert isinstance(description, str)
    assert description.startswith("# l0")
    assert set(meta.get_all("Provides-Extra") or []) >= EXTRAS
    assert "Typing :: Typed" in (meta.get_all("Classifier") or [])


def _requirements_by_extra(meta: Message) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for requirement in meta.get_all("Requires-Dist") or []:
        match = re.search(r"""extra == ['"]([\w-]+)['"]""", requirement)
        if match:
            name = re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0]
            found.setdefault(match[1], set()).add(name)
    return found


def test_extra_all_installs_every_other_extra(dists: Dists) -> None:
    """``l0[all]`` is the union of the other extras, and ``observability`` is otel + sentry."""
    by_extra = _requirements_by_extra(dists.wheel_metadata())
    others: set[str] = set()
    for extra, reqs in by_extra.items():
        if extra != "all":
            others |= reqs
    assert by_extra["all"] == others
    assert by_extra["observability"] == by_extra["otel"] | by_extra["sentry"]
    assert by_extra["speed"] == {"uvloop", "rapidfuzz"}
    assert by_extra["pydantic"] == {"pydantic"}


def test_core_dependencies_are_few(dists: Dists) -> None:
    """Without extras, l0 needs only anyio, msgspec, attrs and httpx."""
    core = {
        re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0]
        for req in dists.wheel_metadata().get_all("Requires-Dist") or []
        if "extra ==" not in req and "python_version" not in req
    }
    assert core == {"anyio", "msgspec", "attrs", "httpx"}


def test_sdist_holds_sources_tests_docs_and_changelog(dists: Dists) -> None:
    """The sdist rebuilds the wheel (``uv build`` builds the wheel from it) and carries the
    tests, the docs sources and the changelog, but no build output."""
    names = set(dists.sdist_names())
    assert {"pyproject.toml", "README.md", "CHANGELOG.md", "docs/conf.py", "docs/index.md"} <= names
    assert _package_files() <= names
    assert "tests/test_packaging.py" in names
    assert not [n for n in names if n.startswith(("docs/_build/", ".venv/", "dist/"))]
    assert not [n for n in names if "__pycache__" in n]


def test_import_l0_imports_no_optional_dependency() -> None:
    """``import l0`` and its public subpackages import no provider SDK, OpenTelemetry, Sentry,
    Rich, Pydantic or uvloop; those load only when their feature is used."""
    imports = "; ".join(f"import {name}" for name in PUBLIC_MODULES)
    code = f"import sys; {imports}; print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_api_is_introspectable(module_name: str) -> None:
    """Every public callable has a signature (``help()``, Sphinx) and every public msgspec
    Struct can be encoded and decoded: their annotations resolve from their public module."""
    module = importlib.import_module(module_name)
    broken: list[str] = []
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.ismodule(value) or not callable(value):
            continue
        try:
            inspect.signature(value)
        except ValueError:  # no signature to show (some builtins): fine
            pass
        except Exception as exc:
            broken.append(f"{name}: signature: {exc!r}")
        if isinstance(value, type) and issubclass(value, msgspec.Struct):
            try:
                msgspec.inspect.type_info(value)
            except Exception as exc:
                broken.append(f"{name}: msgspec: {exc!r}")
    assert broken == []
