"""``python -m l0`` (and the ``l0`` console script): l0's command line.

Subcommands: ``demo`` (a live tour of l0 against misbehaving streams) and ``replay`` (replay a
recorded stream). ``--version`` prints the version.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

__all__ = ["main"]

_COMMANDS = {
    "demo": (
        "l0._cli",
        "a live tour: stalls, drops, 429s, fallbacks, guardrails, structured output, a race",
    ),
    "replay": ("l0._record._cli", "replay a recorded stream"),
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("l0")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree not installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m l0",
        description="l0: the reliability layer for LLM token streams.",
        epilog="Run 'python -m l0 COMMAND --help' for the options of a command.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"l0 {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in _COMMANDS.items():
        commands.add_parser(name, help=help_text, add_help=False)
    return parser


def _command(name: str) -> Callable[[Sequence[str]], int] | None:
    module_name = _COMMANDS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            return None  # this command is not part of this build
        raise
    return module.main


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m l0`` with the command line ``argv``; the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    try:
        # Only the first word is ours: everything after the command is the command's.
        index = next((i for i, arg in enumerate(args) if arg in _COMMANDS), len(args))
        parser.parse_args(args[: index + 1])
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else 2
    name, rest = args[index], args[index + 1 :]
    command = _command(name)
    if command is None:
        print(f"python -m l0: '{name}' is not available in this version of l0", file=sys.stderr)
        return 2
    return command(rest)


if __name__ == "__main__":
    sys.exit(main())
