"""A recording as a readable timeline: one line per input and event, times from the start."""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from typing import Any, cast

import msgspec

from l0._record._compare import describe_event
from l0._record._recording import Recording
from l0._record._schema import (
    Abort,
    Admit,
    AsyncFailed,
    AsyncVerdict,
    Begin,
    Breaker,
    Budget,
    Drift,
    End,
    Ended,
    ErrorRecord,
    Event,
    Failed,
    Guard,
    Header,
    Hook,
    Interrupt,
    Item,
    Ready,
    Record,
    Start,
    TakeFailure,
    Text,
    TimedOut,
    Wait,
)

__all__ = ["timeline"]

_PREVIEW = 60
_OMIT = ("ts", "streamId", "context")


def _quote(text: str, limit: int = _PREVIEW) -> str:
    shown = json.dumps(text, ensure_ascii=False)
    return shown if len(shown) <= limit else shown[: limit - 2] + '…"'


def _error(error: ErrorRecord) -> str:
    cause = f" (from {error.cause})" if error.cause else ""
    return f"{error.name} [{error.code}]: {error.message}{cause}"


def _chunk(data: Any) -> str:
    if isinstance(data, str):
        return f"text {_quote(data)}"
    if isinstance(data, list):
        return ", ".join(_chunk(c) for c in cast("list[Any]", data)) or "nothing"
    if data is None:
        return "nothing"
    fields = cast("dict[str, Any]", data)
    kind = fields.get("$")
    if kind == "event":
        event = cast("dict[str, Any]", fields["event"])
        return describe_event(event, omit=())
    if kind == "finish":
        return f"finish ({fields.get('reason')})"
    if kind == "usage":
        return f"usage in={fields.get('input_tokens')} out={fields.get('output_tokens')}"
    if kind == "tool_delta":
        name = f" {fields.get('name')}" if fields.get("name") else ""
        return f"tool-call delta #{fields.get('index')}{name} {_quote(fields.get('arguments', ''))}"
    if kind == "fault":
        error = msgspec.convert(fields["error"], ErrorRecord)
        return f"in-band error: {_error(error)}"
    return f"{kind} {fields.get('type', '')}".rstrip()


def _options(options: dict[str, Any]) -> list[str]:
    retry = cast("dict[str, Any]", options.get("retry") or {})
    timeout = cast("dict[str, Any]", options.get("timeout") or {})

    def secs(value: Any) -> str:
        return "off" if value is None else f"{value:g}s"

    lines = [
        (
            f"retry: attempts={retry.get('attempts')} max_retries={retry.get('max_retries')} "
            f"{retry.get('strategy')} base={secs(retry.get('base_delay'))}"
        ),
        (
            f"timeout: initial={secs(timeout.get('initial_token'))} "
            f"inter={secs(timeout.get('inter_token'))} total={secs(timeout.get('total'))}"
        ),
    ]
    extras: list[str] = []
    if options.get("fallbacks"):
        extras.append(f"{options['fallbacks']} fallback(s)")
    guardrails = options.get("guardrails")
    if guardrails:
        extras.append("guardrails: " + ", ".join(guardrails.get("rules", [])))
    if options.get("drift"):
        extras.append(f"drift ({options['drift'].get('action')})")
    if options.get("continuation"):
        extras.append("continuation")
    if options.get("retry_budget"):
        extras.append("retry budget")
    if options.get("circuit_breaker"):
        extras.append("circuit breaker")
    if extras:
        lines.append("; ".join(extras))
    return lines


class _Lines:
    def __init__(self, base: float) -> None:
        self.base = base
        self.out: list[str] = []
        self.run: list[tuple[float, str]] = []  # consecutive text chunks, folded into one line

    def add(self, t: float | None, marker: str, text: str) -> None:
        self.fold()
        when = f"{max(0.0, t - self.base):+9.3f}s" if t is not None else " " * 10
        self.out.append(f"{when}  {marker} {text}")

    def text(self, t: float, text: str) -> None:
        self.run.append((t, text))

    def fold(self) -> None:
        run, self.run = self.run, []
        if not run:
            return
        if len(run) == 1:
            t, text = run[0]
            self.out.append(f"{t - self.base:+9.3f}s  ← text {_quote(text)}")
            return
        joined = "".join(text for _, text in run)
        first, last = run[0][0] - self.base, run[-1][0] - self.base
        self.out.append(
            f"{first:+9.3f}s  ← text, {len(run)} chunks ({len(joined)} chars, until {last:+.3f}s) "
            f"{_quote(joined)}"
        )


def timeline(recording: Recording, *, tokens: bool = False, verbose: bool = False) -> list[str]:
    """The recording as lines: a summary, then the inputs (``→`` calls, ``←`` what the source
    sent), the answers the engine got (``?``, with ``verbose``) and the events (``·``), each at
    its time since the stream started. Runs of text are folded into one line unless
    ``tokens``; waits and routine answers show only with ``verbose``."""
    header: Header = recording.header
    start = next((r.now for r in recording.records if type(r) is Start), 0.0)
    created = datetime.datetime.fromtimestamp(header.created, datetime.timezone.utc)
    when = created.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    lines = [
        f"stream {header.stream_id}: {recording.status}",
        (
            f"  started {when} UTC · seed {header.seed} · {len(recording.records)} records "
            f"(schema v{header.v}, l0 {header.l0_version})"
        ),
        *(f"  {line}" for line in _options(header.options)),
        "",
    ]
    out = _Lines(start)
    _render(recording.records[1:], out, header, tokens=tokens, verbose=verbose)
    out.fold()
    return lines + out.out


def _render(
    records: Sequence[Record], out: _Lines, header: Header, *, tokens: bool, verbose: bool
) -> None:
    last: float | None = None
    for record in records:
        kind = type(record)
        now: float | None = getattr(record, "now", None)
        if now is not None:
            last = now
        if kind is Text:
            text = cast("Text", record)
            last = text.t
            if tokens:
                out.add(text.t, "←", f"text {_quote(text.text)}")
            else:
                out.text(text.t, text.text)
        elif kind is Item:
            item = cast("Item", record)
            last = item.t
            if item.error is not None:
                out.add(item.t, "←", f"unreadable chunk: {_error(item.error)}")
            elif isinstance(item.chunk, str) and not tokens:
                out.text(item.t, item.chunk)
            else:
                out.add(item.t, "←", _chunk(item.chunk))
        elif kind is Event:
            data = cast("dict[str, Any]", msgspec.to_builtins(cast("Event", record).event))
            out.add(float(data["ts"]) - header.wall_offset, "·", describe_event(data, omit=_OMIT))
        elif kind is Start:
            out.add(now, "→", "start")
        elif kind is Admit:
            action = cast("Admit", record).action
            out.add(now, "→", f"may source {action.source_index} be tried? (circuit breaker)")
        elif kind is Begin:
            action = cast("Begin", record).action
            why = " (retry)" if action.is_retry else " (fallback)" if action.is_fallback else ""
            out.add(now, "→", f"attempt {action.attempt} of source {action.source_index}{why}")
        elif kind is Ready:
            ready = cast("Ready", record)
            out.add(now, "→", f"source ready: {ready.stream_type} via adapter {ready.adapter!r}")
        elif kind is Wait:
            if verbose:
                out.add(now, "→", "waiting for the source")
        elif kind is TimedOut:
            out.add(now, "→", "deadline reached")
        elif kind is Ended:
            out.add(now, "→", "source ended")
        elif kind is TakeFailure:
            out.add(now, "→", "attempt stopped by a verdict")
        elif kind is Failed:
            out.add(now, "→", f"source failed: {_error(cast('Failed', record).error)}")
        elif kind is Abort:
            out.add(now, "→", "abort()")
        elif kind is Interrupt:
            out.add(now, "→", "interrupted (cancelled, or closed before the end)")
        elif kind is AsyncVerdict:
            found = cast("AsyncVerdict", record).found
            out.add(last, "→", f"async guardrails: {len(found)} violation(s)")
        elif kind is AsyncFailed:
            out.add(last, "→", f"async guardrail raised {cast('AsyncFailed', record).raised}")
        elif kind is End:
            end = cast("End", record)
            state = end.state
            content = _quote(str(state.get("content", "")))
            summary = f"{end.status}: {state.get('tokenCount')} tokens, {content}"
            if end.error is not None:
                summary = f"{end.status}: {_error(end.error)}"
            out.add(end.now, "■", summary)
        else:
            _answer(record, out, last, verbose=verbose)


def _answer(record: Record, out: _Lines, last: float | None, *, verbose: bool) -> None:
    kind = type(record)
    if kind is Guard:
        guard = cast("Guard", record)
        if guard.raised is not None:
            out.add(last, "?", f"guardrail rule raised {guard.raised}")
        elif guard.found or verbose:
            found = ", ".join(f"{v.rule_id} ({v.severity})" for v in guard.found) or "nothing"
            out.add(last, "?", f"guardrails ({guard.op}): {found}")
    elif kind is Drift:
        result = cast("Drift", record).result
        if result is not None and (result.detected or verbose):
            out.add(
                last, "?", f"drift: {', '.join(result.types) or 'none'} (score {result.score:.2f})"
            )
    elif not verbose:
        return
    elif kind is Budget:
        taken = cast("Budget", record).taken
        out.add(
            last, "?", "retry budget: refused" if taken is None else f"retry budget: took {taken:g}"
        )
    elif kind is Breaker:
        breaker = cast("Breaker", record)
        out.add(last, "?", f"circuit breaker {breaker.op}: {breaker.value}")
    elif kind is Hook:
        hook = cast("Hook", record)
        out.add(last, "?", f"{hook.name} returned {hook.value!r}")
