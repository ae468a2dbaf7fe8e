# /// script
# dependencies = ["nox[uv]>=2025.2.9"]
# ///
"""Developer sessions for l0. Run with ``python3 -m uv tool run --from 'nox[uv]' nox``."""

from __future__ import annotations

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv"
nox.options.sessions = ["tests", "lint", "typing"]
nox.options.reuse_venv = "yes"

PYTHON = "3.11"
PYPROJECT = nox.project.load_toml("pyproject.toml")


def _groups(*names: str) -> list[str]:
    return list(nox.project.dependency_groups(PYPROJECT, *names))


def _install(session: nox.Session, *groups: str, extra_args: tuple[str, ...] = ()) -> None:
    session.install(*extra_args, "-e", ".", *_groups(*groups))


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite (asyncio, trio, trio with MockClock)."""
    _install(session, "test")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def tests_uvloop(session: nox.Session) -> None:
    """Run the test suite with asyncio on uvloop."""
    _install(session, "test")
    session.run("pytest", *session.posargs, env={"L0_TEST_LOOP": "uvloop"})


@nox.session(python=PYTHON)
def openai2(session: nox.Session) -> None:
    """Run the openai-SDK tests against openai 2.x (the test group installs 3.x)."""
    _install(session, "test")
    session.install("openai>=2,<3")
    files = [f"tests/test_{name}.py" for name in ("adapter_openai", "reliability_matrix", "wrap")]
    session.run("pytest", *files, *session.posargs)


@nox.session(python=PYTHON)
def lowest(session: nox.Session) -> None:
    """Run the test suite against the lowest allowed versions of direct dependencies."""
    _install(session, "test", extra_args=("--resolution=lowest-direct",))
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """Run the slow soak/stress tests (the full fault matrix, thousands of streams), then the
    property tests of the reliability suite with twenty times as many examples."""
    _install(session, "test")
    env = {"L0_HYPOTHESIS_PROFILE": "soak"}
    session.run("pytest", "-m", "slow", *session.posargs, env=env)
    properties = ["cancellation_props", "fuzz", "config_validation", "security"]
    session.run(
        "pytest",
        "-m",
        "not slow",
        *(f"tests/test_{name}.py" for name in properties),
        *session.posargs,
        env=env,
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Lint and check formatting with ruff."""
    session.install(*_groups("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typing(session: nox.Session) -> None:
    """Type-check l0 with pyright (strict), then the typing tests that use its public API."""
    _install(session, "typing")
    session.run("pyright", *session.posargs)
    # tests/typing/ is code written the way users write it: it must check cleanly, and its
    # assert_type() calls pin the types the public API gives back.
    session.run("pyright", "tests/typing")


@nox.session(python=PYTHON)
def verifytypes(session: nox.Session) -> None:
    """Check the completeness of l0's public type information."""
    _install(session, "typing")
    session.run("pyright", "--verifytypes", "l0", "--ignoreexternal")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the HTML docs; warnings are errors."""
    _install(session, "docs")
    session.run(
        "sphinx-build", "-W", "--keep-going", "-E", "-b", "html", "docs", "docs/_build/html",
        *session.posargs,
    )  # fmt: skip


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmark suite and print its table (bench/run.py; see BENCHMARKS.md).

    Options after ``--``: ``--quick``, ``--backend asyncio uvloop trio``, ``--only FIGURE ...``,
    ``--no-ai2070``, ``--markdown``, ``--json PATH``, ``--strict``.
    """
    _install(session, "bench")
    session.run("python", "bench/run.py", *session.posargs)
