"""``python -m l0 replay PATH_OR_DB [STREAM_ID]``: a recorded stream as a readable timeline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

import anyio

from l0._errors import L0Error
from l0._record._jsonl import JsonlStore
from l0._record._recording import load
from l0._record._sqlite import SqliteStore
from l0._record._timeline import timeline

__all__ = ["main", "open_store"]

_SQLITE_MAGIC = b"SQLite format 3\x00"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m l0 replay",
        description=(
            "Print a recorded l0 stream as a timeline. PATH_OR_DB is a JsonlStore directory, "
            "one of its .jsonl files, or a SqliteStore database. Without STREAM_ID, list the "
            "streams it holds."
        ),
    )
    parser.add_argument("path", metavar="PATH_OR_DB")
    parser.add_argument("stream_id", metavar="STREAM_ID", nargs="?")
    parser.add_argument("--tokens", action="store_true", help="one line per text chunk")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also waits and the engine's answers"
    )
    return parser


def open_store(path: Path) -> tuple[JsonlStore | SqliteStore, str | None]:
    """The store at ``path`` (and the stream id a ``.jsonl`` file names). Raises
    ``ValueError`` if ``path`` is none."""
    if path.is_dir():
        return JsonlStore(path), None
    if not path.is_file():
        raise ValueError(f"{path}: no such file or directory")
    if path.suffix == ".jsonl":
        return JsonlStore(path.parent), path.name[: -len(".jsonl")]
    with path.open("rb") as file:
        magic = file.read(len(_SQLITE_MAGIC))
    if magic == _SQLITE_MAGIC:
        return SqliteStore(path), None
    raise ValueError(f"{path}: neither a JsonlStore directory or .jsonl file nor a SQLite database")


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    store, named = open_store(Path(args.path))
    try:
        stream_id = args.stream_id or named
        if stream_id is None:
            for sid in await store.streams():
                info = await store.info(sid)
                status = info.meta.get("status", "?") if info is not None else "?"
                records = info.records if info is not None else 0
                out.write(f"{sid}  {status}  {records} records\n")
            return 0
        recording = await load(store, stream_id)
        out.write("\n".join(timeline(recording, tokens=args.tokens, verbose=args.verbose)))
        out.write("\n")
        return 0
    finally:
        await store.aclose()


def main(argv: list[str]) -> int:
    """Run the ``replay`` command with ``argv`` (the arguments after ``replay``; a leading
    ``"replay"`` is skipped too). Returns the exit status: 0, 1 if the stream or store cannot
    be read, 2 for bad arguments."""
    if argv[:1] == ["replay"]:
        argv = argv[1:]
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, or bad arguments (argparse printed why)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return anyio.run(_run, args, sys.stdout)
    except (ValueError, L0Error, OSError) as exc:
        sys.stderr.write(f"python -m l0 replay: {exc}\n")
        return 1
