"""The documentation builds strictly, and its API reference covers the whole public surface.

The build is ``sphinx-build -W`` (warnings are errors) from a fresh environment, as
``nox -s docs`` runs it; the ``python`` blocks of the pages are run by Sybil (docs/conftest.py).
"""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

PUBLIC_MODULES = (
    "l0",
    "l0.adapters",
    "l0.events",
    "l0.format",
    "l0.guardrails",
    "l0.monitoring",
    "l0.record",
    "l0.structured",
    "l0.testing",
)


class Build:
    """The result of one strict HTML build."""

    def __init__(self, out: Path, result: subprocess.CompletedProcess[str]) -> None:
        self.out = out
        self.result = result

    def inventory(self) -> dict[str, str]:
        """The documented objects, ``{name: "domain:role"}``, read from ``objects.inv``."""
        header_lines = 4  # version, project, version, "compressed using zlib"
        raw = (self.out / "objects.inv").read_bytes().split(b"\n", header_lines)[header_lines]
        entries: dict[str, str] = {}
        for line in zlib.decompress(raw).decode().splitlines():
            name, role, *_ = line.split(" ")
            entries[name] = role
        return entries


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    out = tmp_path_factory.mktemp("html")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html",
         str(DOCS), str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=300,
    )  # fmt: skip
    return Build(out, result)


def test_docs_build_without_warnings(build: Build) -> None:
    """``sphinx-build -W`` succeeds: no broken reference, docstring markup or orphan page."""
    if build.result.returncode != 0:
        pytest.fail(build.result.stderr + build.result.stdout, pytrace=False)
    assert (build.out / "index.html").is_file()


def test_every_page_is_built(build: Build) -> None:
    """Each Markdown page of docs/ (and docs/api/) becomes an HTML page."""
    pages = {p.relative_to(DOCS).with_suffix("") for p in DOCS.rglob("*.md")}
    pages = {p for p in pages if "_build" not in p.parts and "examples" not in p.parts}
    built = {p for p in pages if (build.out / p.with_suffix(".html")).is_file()}
    assert built == pages


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_api_reference_covers_the_public_surface(build: Build, module_name: str) -> None:
    """Every name in a public module's ``__all__`` has an entry in the API reference.

    A name re-exported from another public module may be documented there instead
    (``l0.Guardrails`` as ``l0.guardrails.Guardrails``); submodules need a page.
    """
    inventory = build.inventory()
    module = importlib.import_module(module_name)
    missing: list[str] = []
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.ismodule(value):
            candidates = [f"{module_name}.{name}", value.__name__]
        else:
            home = getattr(value, "__module__", None) or module_name
            candidates = [f"{module_name}.{name}", f"{home}.{name}"]
        if not any(c in inventory for c in candidates):
            missing.append(name)
    assert missing == [], f"not in docs/api/: {missing}"


def test_readme_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's ``python`` examples run as written (docs/ pages are run by Sybil)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert "Hello, world\n3 tokens\n" in capsys.readouterr().out
