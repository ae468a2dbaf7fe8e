"""ai2070-l0 in its own virtual environment (its import name ``l0`` clashes with ours).

The venv lives in ``bench/.venv-ai2070`` (gitignored) and is made once with uv, for the same
Python version as the benchmark, then reused. The driver script runs there in a subprocess and
prints its results as JSON.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, CACHE_DIR

VENV = BENCH_DIR / ".venv-ai2070"
PACKAGES = ("ai2070-l0", "anyio", "uvloop; sys_platform != 'win32'", "trio")
DRIVER = BENCH_DIR / "_ai2070_driver.py"
DRIVER_TIMEOUT = 1800  # seconds


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


def measure(
    tokens: list[int],
    backends: list[str],
    quick: bool,
    repeat: int | None,
    ttft_runs: tuple[int, int],
    import_runs: int,
    log: Any = print,
) -> dict[str, Any]:
    """Run the driver in the ai2070-l0 venv; its results as a dict (raises Unavailable)."""
    python = ensure_venv(log)
    CACHE_DIR.mkdir(exist_ok=True)
    cmd = [
        str(python),
        str(DRIVER),
        "--tokens", *map(str, tokens),
        "--backends", *backends,
        "--ttft-runs", *map(str, ttft_runs),
        "--import-runs", str(import_runs),
    ]  # fmt: skip
    if quick:
        cmd.append("--quick")
    if repeat:
        cmd += ["--repeat", str(repeat)]
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    try:
        proc = subprocess.Popen(
            cmd, cwd=BENCH_DIR, env=env, stdout=subprocess.PIPE, stderr=None, text=True
        )
    except OSError as exc:
        raise Unavailable(f"driver failed to start: {exc}") from exc
    try:
        stdout, _ = proc.communicate(timeout=DRIVER_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.communicate()
        raise Unavailable(f"driver took more than {DRIVER_TIMEOUT} s") from exc
    if proc.returncode != 0:
        raise Unavailable(f"driver exited with {proc.returncode} (see its stderr above)")
    try:
        return json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise Unavailable(f"driver printed no JSON: {stdout[-200:]!r}") from exc
