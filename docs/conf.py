"""Sphinx configuration for the l0 documentation."""

from __future__ import annotations

import logging
import os
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version

project = "l0"
author = "l0 contributors"
copyright = "l0 contributors"

try:
    release = _dist_version("l0")
except PackageNotFoundError:  # building from a tree where l0 is not installed
    release = "0.1.0.dev0"
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "conftest.py", "examples", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# "Attributes:" sections as field lists: autodoc documents the attributes themselves.
napoleon_use_ivar = True

nitpicky = False

html_theme = "furo"
html_title = "l0"

# Intersphinx fetches inventories over the network, which neither developer machines nor
# CI can reach. Enable it explicitly (L0_DOCS_INTERSPHINX=1) where the network is available.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
if os.environ.get("L0_DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "anyio": ("https://anyio.readthedocs.io/en/stable/", None),
        "trio": ("https://trio.readthedocs.io/en/stable/", None),
        "attrs": ("https://www.attrs.org/en/stable/", None),
        "msgspec": ("https://jcristharif.com/msgspec/", None),
    }


class _DropEmptyGlobWarning(logging.Filter):
    """Let the placeholder index's glob toctree match no page without failing ``-W``.

    Sphinx logs "toctree glob pattern ... didn't match any documents" with a subtype but
    no type, so ``suppress_warnings`` cannot silence it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "subtype", None) != "empty_glob"


def _resolve_lazy_names() -> None:
    """Import l0's lazily loaded names, so that autodoc finds them as module attributes."""
    import l0  # noqa: PLC0415 - only for the build, after Sphinx has set up

    for name in l0.__all__:
        getattr(l0, name)


def setup(app: object) -> dict[str, bool]:
    _resolve_lazy_names()
    logging.getLogger("sphinx.sphinx.directives.other").addFilter(_DropEmptyGlobWarning())
    return {"parallel_read_safe": True, "parallel_write_safe": True}
