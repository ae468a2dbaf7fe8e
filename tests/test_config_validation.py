"""Malformed configuration fails at construction, with a message that names the field.

Every public configuration type is covered: a table of hand-picked bad values, then a
Hypothesis sweep that throws values of every kind (``None``, bools, huge and negative numbers,
NaN and infinities, strings, lists, arbitrary objects) at each field. The outcome is always one
of two: the object is built, or :class:`l0.ConfigError` (a ``ValueError``) names the field.
Never a bare ``TypeError`` from deep inside, never a half-built object that fails later.

(``tests/test_runtime_config.py`` holds the first table for ``Retry``/``Timeout`` and ``run``;
this file covers the rest of the surface and the sweep.)
"""

from __future__ import annotations

import functools
import gc
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import l0
import l0.guardrails as g
import l0.testing
from l0 import structured
from l0.adapters import SSEParser, SSERequest, openai_sse
from tests._profile import examples


def _source() -> list[str]:
    return ["a"]


def _checker(rule: g.Rule) -> Any:  # pragma: no cover - never started
    raise AssertionError(rule)


_CLIENT = httpx.AsyncClient()  # never used for I/O: only type-checked by the constructors

# (constructor, field named in the message)
BAD: list[tuple[str, Callable[[], object], str]] = [
    # l0.Retry: the callables and the reasons (numbers are in test_runtime_config.py)
    ("retry-should-retry", lambda: l0.Retry(should_retry=3), "should_retry"),
    ("retry-calculate-delay", lambda: l0.Retry(calculate_delay="soon"), "calculate_delay"),
    ("retry-on-int", lambda: l0.Retry(retry_on=5), "retry_on"),
    ("retry-base-delay-str", lambda: l0.Retry(base_delay="1"), "base_delay"),
    ("retry-max-retries-float", lambda: l0.Retry(max_retries=2.0), "max_retries"),
    ("timeout-inter-nan", lambda: l0.Timeout(inter_token=float("nan")), "inter_token"),
    ("timeout-total-bool", lambda: l0.Timeout(total=True), "total"),
    ("intervals-drift-float", lambda: l0.CheckIntervals(drift=1.5), "drift"),
    ("intervals-checkpoint-str", lambda: l0.CheckIntervals(checkpoint="10"), "checkpoint"),
    # guardrails and drift
    ("drift-window", lambda: g.DriftConfig(window=0), "window"),
    ("drift-types-unknown", lambda: g.DriftConfig(types={"nope"}), "types"),
    ("drift-types-int", lambda: g.DriftConfig(types=5), "types"),
    ("drift-types-str", lambda: g.DriftConfig(types="tone_shift"), "types"),
    ("drift-threshold", lambda: g.DriftConfig(threshold=2), "threshold"),
    ("drift-entropy-z", lambda: g.DriftConfig(entropy_z=-1), "entropy_z"),
    ("drift-action", lambda: g.DriftConfig(action="explode"), "action"),
    ("drift-detector-config", lambda: g.DriftDetector(5), "config"),  # type: ignore[arg-type]
    ("rule-name", lambda: g.Rule(name="", factory=_checker), "name"),
    ("rule-severity", lambda: g.Rule(name="r", severity="loud", factory=_checker), "severity"),
    ("rule-factory", lambda: g.Rule(name="r", factory=5), "factory"),  # type: ignore[arg-type]
    ("rule-no-factory", lambda: g.Rule(name="r"), "factory"),
    ("rule-async-factory", lambda: g.Rule(name="r", async_factory="x"), "async_factory"),
    ("guardrails-not-rules", lambda: g.Guardrails([5]), "Rule"),  # type: ignore[list-item]
    ("pattern-include", lambda: g.pattern_rule(include=["nope"]), "categories"),
    ("pattern-severity", lambda: g.pattern_rule(severity="loud"), "severity"),
    ("custom-pattern-regex", lambda: g.custom_pattern_rule("c", ["("]), "pattern"),
    ("custom-pattern-none", lambda: g.custom_pattern_rule("c", []), "patterns"),
    ("custom-pattern-length", lambda: g.custom_pattern_rule("c", "a", max_length=0), "max_length"),
    ("stall-char-run", lambda: g.stall_rule(max_char_run=0), "max_char_run"),
    ("stall-min-words", lambda: g.stall_rule(min_words="many"), "min_words"),
    ("repetition-window", lambda: g.repetition_rule(window=0), "window"),
    ("repetition-repeats", lambda: g.repetition_rule(max_repeats=-1), "max_repeats"),
    ("json-severity", lambda: g.json_rule(severity="x"), "severity"),
    ("run-guardrails-item", lambda: l0.run(_source, guardrails=[5]), "guardrails"),
    ("run-drift", lambda: l0.run(_source, drift=5), "drift"),
    ("run-continue", lambda: l0.run(_source, continue_from_last_good_token=5), "continue"),
    ("run-callback", lambda: l0.run(_source, on_event=5), "on_event"),
    ("session-timeout", lambda: l0.session(timeout=5), "timeout"),
    # adapters
    ("sse-parser-line", lambda: SSEParser(max_line_length=0), "max_line_length"),
    ("sse-parser-event", lambda: SSEParser(max_event_size="big"), "max_event_size"),
    ("openai-sse-client", lambda: openai_sse(object(), json={}), "AsyncClient"),
    ("openai-sse-json", lambda: openai_sse(_CLIENT, json=[1]), "json"),
    ("openai-sse-url", lambda: openai_sse(_CLIENT, 5, json={}), "url"),
    ("openai-sse-headers", lambda: openai_sse(_CLIENT, json={}, headers=5), "headers"),
    ("openai-sse-line", lambda: openai_sse(_CLIENT, json={}, max_line_length=0), "max_line_length"),
    ("openai-sse-event", lambda: openai_sse(_CLIENT, json={}, max_event_size=-1), "max_event_size"),
    (
        "sse-request-limit",
        lambda: SSERequest(client=_CLIENT, url="/x", json={}, max_line_length=0),
        "max_line_length",
    ),
    (
        "sse-request-headers",
        lambda: SSERequest(client=_CLIENT, url="/", json={}, headers=[1]),
        "headers",
    ),
    # structured output
    ("partial-json-depth", lambda: structured.PartialJSON(max_depth=0), "max_depth"),
    ("schema", lambda: structured.Schema(5), "schema"),
    # many streams, windows, media
    ("pool-workers", lambda: l0.pool(0), "workers"),
    ("pool-queue", lambda: l0.pool(2, queue_size=0), "queue_size"),
    ("pool-on-exit", lambda: l0.pool(2, on_exit="drop"), "on_exit"),
    ("pool-retry", lambda: l0.pool(2, retry=3), "retry"),
    ("window-size", lambda: l0.Window.create("abc", size=0), "size"),
    ("window-overlap", lambda: l0.Window.create("abc", size=10, overlap=20), "overlap"),
    ("window-strategy", lambda: l0.Window.create("abc", strategy="words"), "strategy"),
    ("media-kind", lambda: l0.Media(kind="hologram"), "kind"),
    # the testing kit
    ("script-delay", lambda: l0.testing.Script(delay=-1), "delay"),
    ("stall-seconds", lambda: l0.testing.Stall(seconds=float("nan")), "seconds"),
    ("drop-after", lambda: l0.testing.Drop(after=-1), "after"),
    ("http-error-status", lambda: l0.testing.HttpError(status=200), "status"),
    ("keep-alive-interval", lambda: l0.testing.KeepAlive(interval=0), "interval"),
    ("function-call-split", lambda: l0.testing.FunctionCall(name="f", split=0), "split"),
    ("server-port", lambda: l0.testing.FakeServer(port=-1), "port"),
    ("server-port-str", lambda: l0.testing.FakeServer(port="80"), "port"),
    ("server-host", lambda: l0.testing.FakeServer(host=""), "host"),
    ("set-testing", lambda: l0.testing.set_testing(attempts="2"), "attempts"),
]


@pytest.mark.parametrize(("case", "make", "field"), BAD, ids=[i for i, _, _ in BAD])
def test_malformed_configuration_fails_at_construction_naming_the_field(
    case: str, make: Callable[[], object], field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each malformed value raises ConfigError (a ValueError) whose message names the field."""
    monkeypatch.setattr(sys, "unraisablehook", lambda _unraisable: None)
    with pytest.raises(l0.ConfigError) as caught:
        make()
    assert field in str(caught.value)
    assert caught.value.code == l0.ErrorCode.INVALID_CONFIG
    assert isinstance(caught.value, ValueError)
    del caught
    if case.startswith(("run-", "session-", "pool-")):
        gc.collect()  # a half-built stream must not warn later, in another test


# -- the runtime's and the engine's options -------------------------------------------------------

_RUNTIME_GAP = "run() options that are not validated at construction (l0/_runtime/_options.py)"
_ENGINE_GAP = "ContinuationConfig fields not type-checked (l0/_engine/_continuation.py)"

GAPS: list[tuple[str, Callable[[], object], str, str]] = [
    ("run-adapter-type", lambda: l0.run(_source, adapter=42), "adapter", _RUNTIME_GAP),
    ("run-adapter-unknown", lambda: l0.run(_source, adapter="no-such"), "adapter", _RUNTIME_GAP),
    ("run-seed", lambda: l0.run(_source, seed="seven"), "seed", _RUNTIME_GAP),
    ("run-fallbacks-int", lambda: l0.run(_source, fallbacks=5), "fallbacks", _RUNTIME_GAP),
    ("run-guardrails-int", lambda: l0.run(_source, guardrails=5), "guardrails", _RUNTIME_GAP),
    (
        "cont-min-overlap-str",
        lambda: l0.ContinuationConfig(min_overlap="2"),
        "min_overlap",
        _ENGINE_GAP,
    ),
    (
        "cont-min-overlap-bool",
        lambda: l0.ContinuationConfig(min_overlap=True),
        "min_overlap",
        _ENGINE_GAP,
    ),
    (
        "cont-max-overlap-none",
        lambda: l0.ContinuationConfig(max_overlap=None),
        "max_overlap",
        _ENGINE_GAP,
    ),
    (
        "cont-instruction",
        lambda: l0.ContinuationConfig(instruction=3),
        "instruction",
        _ENGINE_GAP,
    ),
    (
        "cont-build-prompt",
        lambda: l0.ContinuationConfig(build_prompt="x"),
        "build_prompt",
        _ENGINE_GAP,
    ),
]


@pytest.mark.parametrize(
    ("make", "field"),
    [pytest.param(m, f) for _, m, f, _ in GAPS],
    ids=[i for i, _, _, _ in GAPS],
)
def test_run_options_and_continuation_fields_are_checked(
    make: Callable[[], object], field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each fails at construction with a ConfigError naming the field."""
    monkeypatch.setattr(sys, "unraisablehook", lambda _unraisable: None)
    with pytest.raises(l0.ConfigError) as caught:
        make()
    assert field in str(caught.value)
    del caught
    gc.collect()  # a half-built stream must not warn later, in another test


# -- the sweep ---------------------------------------------------------------------------------

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(object),
)

FIELDS: dict[str, tuple[Callable[..., object], tuple[str, ...]]] = {
    "Retry": (
        l0.Retry,
        (
            "attempts",
            "max_retries",
            "base_delay",
            "max_delay",
            "strategy",
            "retry_on",
            "should_retry",
            "calculate_delay",
            "max_retry_after",
        ),
    ),
    "Timeout": (l0.Timeout, ("initial_token", "inter_token", "total")),
    "CheckIntervals": (l0.CheckIntervals, ("guardrails", "drift", "checkpoint")),
    "DriftConfig": (
        g.DriftConfig,
        (
            "types",
            "window",
            "recent_blocks",
            "threshold",
            "hedging_limit",
            "sentence_repeats",
            "ngram",
            "ngram_window",
            "entropy_z",
            "entropy_delta",
            "entropy_baseline",
            "markdown_blocks",
            "action",
        ),
    ),
    "DriftDetector": (g.DriftDetector, ("config",)),
    "stall_rule": (
        g.stall_rule,
        ("max_char_run", "max_period", "min_repeats", "min_words", "severity"),
    ),
    "repetition_rule": (g.repetition_rule, ("max_repeats", "window", "min_length", "severity")),
    "pattern_rule": (g.pattern_rule, ("severity",)),
    "json_rule": (g.json_rule, ("severity",)),
    "Script": (l0.testing.Script, ("delay",)),
    "Stall": (functools.partial(l0.testing.Stall, seconds=1), ("seconds", "after")),
    "SlowHeaders": (l0.testing.SlowHeaders, ("seconds",)),
    "Drop": (l0.testing.Drop, ("after",)),
    "Truncate": (l0.testing.Truncate, ("after",)),
    "Malformed": (l0.testing.Malformed, ("after", "line")),
    "InBandError": (l0.testing.InBandError, ("after",)),
    "KeepAlive": (l0.testing.KeepAlive, ("interval", "count", "after")),
    "HttpError": (l0.testing.HttpError, ("status", "retry_after", "retry_after_ms")),
    "FunctionCall": (functools.partial(l0.testing.FunctionCall, name="f"), ("split",)),
    "FakeServer": (l0.testing.FakeServer, ("host", "port")),
    "SSEParser": (SSEParser, ("max_line_length", "max_event_size")),
    "PartialJSON": (structured.PartialJSON, ("max_depth",)),
    "pool": (l0.pool, ("workers", "queue_size", "on_exit")),
}
SWEEP = [(name, field) for name, (_, fields) in FIELDS.items() for field in fields]


@examples(25)
@pytest.mark.parametrize(("target", "field"), SWEEP, ids=[f"{n}.{f}" for n, f in SWEEP])
@given(value=ANY_VALUE)
def test_any_value_is_accepted_or_refused_naming_the_field(
    target: str, field: str, value: Any
) -> None:
    """Whatever the value, the constructor either accepts it or raises ConfigError naming the
    field: never another exception."""
    make = FIELDS[target][0]
    message = field
    try:
        make(**{field: value})
    except l0.ConfigError as exc:
        message = str(exc)
    assert field in message, (field, value, message)


@examples(25)
@given(value=ANY_VALUE)
def test_testing_mode_attempts_accepts_or_names_the_field(value: Any) -> None:
    """set_testing(attempts=...) accepts an int >= 0 or None; anything else is a ConfigError."""
    try:
        restore = l0.testing.set_testing(attempts=value)
    except l0.ConfigError as exc:
        message = str(exc)
    else:
        with restore:
            message = "attempts"
        assert value is None or (type(value) is int and value >= 0)
    assert "attempts" in message
