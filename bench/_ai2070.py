"""ai2070-l0 in its own virtual environment (its import name ``l0`` clashes with ours).

The venv lives in ``bench/.venv-ai2070`` (gitignored) and is made once with uv, for the same
Python version as the benchmark, then reused. ``bench/_workloads.py`` runs there in subprocesses
(side ``ai2070``, i.e. ``bench/_side_ai2070.py``) and prints its results as JSON.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import _common as c
from _common import BENCH_DIR, CACHE_DIR
from _workloads import run_child

VENV = BENCH_DIR / ".venv-ai2070"
PACKAGES = ("ai2070-l0", "anyio", "uvloop; sys_platform != 'win32'", "trio")


class Unavailable(Exception):
    """ai2070-l0 cannot be measured here (the message says why)."""


def _venv_python() -> Path:
    if os.name == "nt":  # pragma: no cover
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def _uv() -> list[str]:
    """A command that runs uv: this interpreter's uv module, a uv on PATH, or python3's."""
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    found = shutil.which("uv")
    if found:
        return [found]
    for python in ("python3", "python"):
        exe = shutil.which(python)
        if exe is None:
            continue
        probe = subprocess.run([exe, "-m", "uv", "--version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [exe, "-m", "uv"]
    raise Unavailable("uv not found (pip install uv)")


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"{cmd[-1] if cmd else cmd}: {exc}") from exc
    if done.returncode != 0:
        lines = [ln.strip() for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        tail = lines[-3:]
        raise Unavailable(" / ".join(tail) or f"exit {done.returncode}")
    return done


def _installed_version(python: Path) -> str | None:
    probe = (
        "import sys; from importlib import metadata; "
        "print(metadata.version('ai2070-l0'), '%d.%d' % sys.version_info[:2])"
    )
    try:
        done = subprocess.run(
            [str(python), "-c", probe], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    version, py = done.stdout.split()
    if py != "{}.{}".format(*sys.version_info[:2]):
        return None  # made for another Python: make it again
    return version


def ensure_venv(log: Any = print) -> Path:
    """The venv's python, creating the venv and installing ai2070-l0 first if needed."""
    python = _venv_python()
    if python.exists() and _installed_version(python) is not None:
        return python
    uv = _uv()
    log(f"creating {VENV} with ai2070-l0 (once) ...")
    if VENV.exists():
        shutil.rmtree(VENV)
    _run([*uv, "venv", "--quiet", "--python", sys.executable, str(VENV)], timeout=300)
    _run([*uv, "pip", "install", "--quiet", "--python", str(python), *PACKAGES], timeout=600)
    if _installed_version(python) is None:
        raise Unavailable("installed, but 'import l0' of ai2070-l0 does not work in its venv")
    return python


def workload(args: list[str], timeout: float, log: Any = print) -> dict[str, Any]:
    """``python bench/_workloads.py ai2070 ARGS...`` in the venv; its JSON.

    Raises :class:`Unavailable` if the venv cannot be made, ``ChildFailed`` if the workload
    itself fails."""
    return run_child(ensure_venv(log), ["ai2070", *args], timeout=timeout, isolate=True)


def measure_import(runs: int, importtime_runs: int, log: Any = print) -> dict[str, Any]:
    """``import l0`` (ai2070-l0's) in fresh processes of the venv, as for this project's l0."""
    python = ensure_venv(log)
    CACHE_DIR.mkdir(exist_ok=True)
    return c.measure_import(
        str(python), "l0", runs, cwd=CACHE_DIR, pycache=CACHE_DIR / "pycache-ai2070",
        importtime_runs=importtime_runs,
    )  # fmt: skip
