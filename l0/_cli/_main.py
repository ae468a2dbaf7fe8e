"""``python -m l0 demo``: the command line of the live demo.

Ctrl+C (and SIGTERM) cancel the tour the same way on both backends: a signal receiver cancels
the task group the tour runs in, so every stream, connection and the local provider close
through their ``async with`` blocks; then the demo says so and exits with status 130.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

import anyio
import anyio.abc

from l0._cli._scenarios import SCENARIOS
from l0._cli._target import Pace
from l0._cli._tour import TourOptions, play_tour
from l0._cli._view import View, make_view

__all__ = ["build_parser", "main", "tour_options"]

EXIT_INTERRUPTED = 130  # the shell's convention for "ended by SIGINT"
_NAMES = [s.name for s in SCENARIOS]


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"not an http:// or https:// URL: {value!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The demo's argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m l0 demo",
        description=(
            "A live tour of what l0 does when model streams misbehave. With no API key it "
            "starts l0's own local fault-injecting provider (nothing leaves the machine)."
        ),
        epilog=(
            "scenarios: " + ", ".join(_NAMES) + ". Against a real endpoint (--base-url, or "
            "OPENAI_API_KEY for https://api.openai.com/v1) the same requests are sent, with real "
            "model names, and the faults are whatever happens."
        ),
    )
    parser.add_argument(
        "--backend", choices=("asyncio", "trio"), default="asyncio", help="event loop"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=_NAMES,
        metavar="NAME",
        help="play only this scenario (repeatable; default: all, in order)",
    )
    parser.add_argument(
        "--base-url",
        type=_http_url,
        help="an OpenAI-compatible endpoint instead of the local provider",
    )
    parser.add_argument(
        "--local",
        action="store_true",
        help="use the local provider even if OPENAI_API_KEY is set",
    )
    parser.add_argument("--model", default="gpt-4o-mini", help="model for a real endpoint")
    parser.add_argument(
        "--fallback-model", default=None, help="second model for a real endpoint (default: --model)"
    )
    color = parser.add_mutually_exclusive_group()
    color.add_argument(
        "--no-color",
        "--plain",
        dest="color",
        action="store_false",
        default=None,
        help="plain line-oriented output (the default when stdout is not a terminal)",
    )
    color.add_argument(
        "--color", dest="color", action="store_true", help="the live Rich view, even in a pipe"
    )
    parser.add_argument(
        "--fast", action="store_true", help="no pacing: as fast as the faults allow"
    )
    return parser


def tour_options(args: argparse.Namespace) -> TourOptions:
    """What to play and where, from the parsed arguments and ``OPENAI_API_KEY``."""
    api_key = None if args.local else os.environ.get("OPENAI_API_KEY") or None
    base_url: str | None = args.base_url
    if base_url is None and api_key is not None:
        base_url = "https://api.openai.com/v1"
    chosen = args.scenario or _NAMES
    return TourOptions(
        scenarios=tuple(s for s in SCENARIOS if s.name in chosen),
        base_url=base_url,
        api_key=api_key,
        model=args.model,
        fallback_model=args.fallback_model or args.model,
        pace=Pace.fast() if args.fast else Pace.live(),
        backend=args.backend,
    )


async def _interruptible(options: TourOptions, view: View) -> int:
    """Play the tour; cancel it on SIGINT/SIGTERM. The exit status."""
    interrupted = False

    async def watch(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        nonlocal interrupted
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for _ in signals:
                interrupted = True
                tg.cancel_scope.cancel()
                return

    results = None
    async with anyio.create_task_group() as tg:
        if sys.platform != "win32":  # no signal receivers there: KeyboardInterrupt instead
            await tg.start(watch)
        results = await play_tour(options, view)
        tg.cancel_scope.cancel()  # stop watching
    if interrupted or results is None:
        local = ", local provider stopped" if options.base_url is None else ""
        view.message(f"interrupted: every stream closed{local}")
        return EXIT_INTERRUPTED
    return 0 if all(r.ok for r in results) else 1


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the demo with the command line ``argv``; the exit status.

    0: every scenario went as shown; 1: one did not; 2: bad arguments; 130: interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else 2
    if args.backend == "trio" and importlib.util.find_spec("trio") is None:
        parser.print_usage(sys.stderr)
        print(
            "python -m l0 demo: error: --backend trio needs trio (pip install trio)",
            file=sys.stderr,
        )
        return 2
    options = tour_options(args)
    view = make_view(out or sys.stdout, color=args.color, clock=anyio.current_time)
    try:
        return anyio.run(_interruptible, options, view, backend=options.backend)
    except KeyboardInterrupt:  # before the signal receiver, or a second Ctrl+C
        view.message("interrupted")
        return EXIT_INTERRUPTED
    finally:
        view.close()
