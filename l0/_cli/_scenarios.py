"""The scenarios of the demo's tour: one fault each, and what l0 does about it.

Each scenario sends a prompt through l0 and says what the local "model" does on each attempt
(a :class:`~l0.testing.Script`: its answer, and how it fails). Against the local provider the
faults are known, so each scenario also checks that l0 did what it shows (``rec.expect``);
against a real endpoint it reports whatever happened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import anyio
import attrs
import msgspec

import l0
from l0._cli._recorder import Recorder
from l0._cli._target import Pace, Plan, Role, Target
from l0._cli._view import View
from l0.structured import FieldComplete, StructuredResult, reask_messages, structured_stream
from l0.testing import Drop, HttpError, Script, SlowHeaders, Stall

__all__ = ["SCENARIOS", "Run", "Scenario"]

# The local model's answers. ASCII only: a script travels in an HTTP header.
CLEAN = (
    "A reliability layer sits between your code and the model's token stream. It watches "
    "every token, and when the stream stalls, breaks or goes off the rails, it retries, "
    "resumes or falls back before your users notice."
)
STALL = (
    "An inter-token timeout is the longest you wait for the next token once a stream has "
    "started. When a provider goes quiet mid-answer, l0 cancels the read, closes the "
    "connection and asks again."
)
DROP = (
    "It should not start over. l0 keeps the last good output as a checkpoint, asks the model "
    "to continue from there, and removes the words the model repeats, so the reader sees one "
    "seamless answer."
)
RATE = (
    "Slow down, and wait as long as the server asked: the Retry-After header says how long. "
    "Retrying sooner only burns quota and earns another 429."
)
FALLBACK = (
    "Because providers have bad days. When the primary model is down or overloaded, a "
    "configured fallback answers instead, and the user never sees the outage."
)
GUARD_BAD = (
    "As an AI language model, I do not have personal opinions, but many people would say "
    "that checking the output is generally considered to be useful in many situations."
)
GUARD_GOOD = (
    "A streaming check is cheap insurance: it stops a refusal or a leaked placeholder after "
    "a few tokens, instead of after the whole response was paid for and shown."
)
STRUCT_BAD = '{"name": "l0", "version": 0.1, "features": ["retries", "fallbacks"]}'
STRUCT_GOOD = (
    "Sure! Here it is:\n```json\n{'name': 'l0', 'version': '0.1', "
    "'features': ['retries', 'fallbacks', 'timeouts',],}\n```\nAnything else?"
)
RACE = (
    "Racing two providers turns one provider's slow day into a non-event: the first to "
    "answer wins, and the other request is cancelled at once."
)

_STALL_AFTER = 9  # tokens
_DROP_AFTER = 14  # tokens
_REPEATED_WORDS = 2  # how much of its checkpoint the resumed model says again
_RACE_HEAD_START = 0.2  # seconds: the least first-token latency of the race's fast model


class Release(msgspec.Struct):
    """The schema of the structured scenario."""

    name: str
    version: str
    features: list[str]


_RELEASE = Release(name="l0", version="0.1", features=["retries", "fallbacks", "timeouts"])


@attrs.define
class Run:
    """What a scenario plays with: the endpoint, the pace, the view and its recorder."""

    target: Target
    pace: Pace
    view: View
    rec: Recorder

    @property
    def scripted(self) -> bool:
        """Whether the faults are the demo's own (and so their outcome is checked)."""
        return self.target.scripted

    def expect(self, condition: bool, problem: str) -> None:
        """Check an outcome of a known fault (only when the requests carry their scripts)."""
        if self.scripted:
            self.rec.expect(condition, problem)

    def script(self, text: str, *faults: Any) -> Script:
        """The local model's answer at the tour's pace."""
        return self.pace.script(text, *faults)

    def factory(
        self,
        prompt: str,
        plan: Plan,
        *,
        role: Role = "primary",
        body: Callable[[l0.AttemptContext], Mapping[str, Any]] | None = None,
    ) -> Callable[[l0.AttemptContext], Any]:
        """A factory asking ``prompt`` of the ``role`` model."""
        messages = [{"role": "user", "content": prompt}]
        return self.target.factory(messages, plan, role=role, body=body)

    def timeout(self, inter_token: float | None = None) -> l0.Timeout:
        """Deadlines: tight for the local provider (it is fast), l0's defaults otherwise;
        ``inter_token`` is a scenario's own, for a scripted stall."""
        if self.target.local:
            return l0.Timeout(initial_token=10.0, inter_token=inter_token or 5.0)
        if self.target.scripted and inter_token is not None:
            return attrs.evolve(l0.Timeout(), inter_token=inter_token)
        return l0.Timeout()

    def retry(self, **overrides: Any) -> l0.Retry:
        """Retries with the tour's backoff."""
        return l0.Retry(base_delay=self.pace.backoff, strategy="fixed", **overrides)

    def consume(self, event: l0.StreamEvent) -> None:
        """Show a stream event."""
        if isinstance(event, l0.Token):
            self.rec.token(event.value)
            self.view.token(event.value)
        elif isinstance(event, l0.Reset):
            self.view.reset()
            self.rec.reset(event.discarded)

    async def stream(
        self, factory: Callable[..., Any], sources: list[str], **options: Any
    ) -> l0.State:
        """Run ``factory`` through :func:`l0.run`, showing what it does; its final state."""
        track = self.rec.track(sources)
        async with l0.run(factory, **track.options(), **options) as stream:
            async for event in stream:
                self.consume(event)
        return stream.state


@attrs.frozen
class Scenario:
    """A stop of the tour."""

    name: str
    title: str
    prompt: str
    play: Callable[[Run, str], Awaitable[None]]


async def _clean(run: Run, prompt: str) -> None:
    model = run.target.model("primary")
    state = await run.stream(
        run.factory(prompt, lambda _: run.script(CLEAN)),
        [model],
        timeout=run.timeout(),
        retry=run.retry(),
    )
    run.rec.tell(f"{state.token_count} tokens, nothing to recover")
    run.expect(state.content == CLEAN, "the text arrived changed")
    run.expect(run.rec.attempts == 1, f"{run.rec.attempts} attempts for a clean stream")


async def _stall(run: Run, prompt: str) -> None:
    def plan(ctx: l0.AttemptContext) -> Script:
        if ctx.attempt == 1:
            return run.script(STALL, Stall(seconds=run.pace.stall, after=_STALL_AFTER))
        return run.script(STALL)

    state = await run.stream(
        run.factory(prompt, plan),
        [run.target.model("primary")],
        timeout=run.timeout(inter_token=run.pace.stall_timeout),
        retry=run.retry(),
    )
    run.rec.tell("completed")
    run.expect(run.rec.timeouts == 1, f"{run.rec.timeouts} timeouts, expected 1")
    run.expect(run.rec.retries == 1, f"{run.rec.retries} retries, expected 1")
    run.expect(run.rec.resets == 1, "the stalled attempt's text was not discarded")
    run.expect(state.content == STALL, "the final text is not the model's answer")


async def _drop(run: Run, prompt: str) -> None:
    repeated: list[str] = []

    def plan(ctx: l0.AttemptContext) -> Script:
        if not ctx.checkpoint:
            return run.script(DROP, Drop(after=_DROP_AFTER))
        # Asked to continue, the model first says the end of the checkpoint again.
        done = ctx.checkpoint if DROP.startswith(ctx.checkpoint) else ""
        words = done.split(" ")
        overlap = " ".join(words[-_REPEATED_WORDS:]) if len(words) > _REPEATED_WORDS else ""
        repeated.append(overlap)
        return run.script(overlap + DROP[len(done) :])

    seen = len(run.rec.text)
    state = await run.stream(
        run.factory(prompt, plan),
        [run.target.model("primary")],
        timeout=run.timeout(),
        retry=run.retry(),
        continue_from_last_good_token=True,
    )
    shown = run.rec.text[seen:]
    if run.scripted and repeated:
        duplicated = len(shown) - len(DROP)
        run.rec.tell(
            f"the model repeated {len(repeated[-1])} chars, l0 removed them: "
            f"{duplicated} duplicated chars"
        )
        run.expect(shown == DROP, "the reader's text is not the answer, exactly once")
    else:
        run.rec.tell(f"{state.token_count} tokens")
    run.expect(bool(run.rec.resumed_at), "the retry did not resume from the checkpoint")
    run.expect(run.rec.resets == 0, "the text was reset instead of resumed")


async def _rate_limit(run: Run, prompt: str) -> None:
    pace = run.pace
    if pace.retry_after >= 1 and pace.retry_after.is_integer():
        limited = HttpError(status=429, retry_after=pace.retry_after)
    else:
        limited = HttpError(status=429, retry_after_ms=round(pace.retry_after * 1000))

    def plan(ctx: l0.AttemptContext) -> Script:
        return run.script(RATE, limited) if ctx.attempt == 1 else run.script(RATE)

    state = await run.stream(
        run.factory(prompt, plan),
        [run.target.model("primary")],
        timeout=run.timeout(),
        retry=run.retry(),
    )
    run.rec.tell("completed")
    waited = run.rec.waits[0] if run.rec.waits else 0.0
    # The wait is measured from the failure's report: allow for the clock's granularity.
    run.expect(waited >= pace.retry_after * 0.9, f"retried after {waited:.2f} s, too early")
    run.expect(run.rec.retries == 1, f"{run.rec.retries} retries, expected 1")
    run.expect(state.content == RATE, "the final text is not the model's answer")


async def _fallback(run: Run, prompt: str) -> None:
    dead, backup = run.target.model("dead"), run.target.model("backup")
    down = HttpError(status=503, message="The model is overloaded.", error_type="overloaded")
    primary = run.factory(prompt, lambda _: Script(faults=[down]), role="dead")
    fallback = run.factory(prompt, lambda _: run.script(FALLBACK), role="backup")
    state = await run.stream(
        primary,
        [dead, backup],
        fallbacks=[fallback],
        timeout=run.timeout(),
        retry=run.retry(max_retries=1),
    )
    run.rec.tell("completed")
    run.expect(run.rec.fallbacks == 1, f"{run.rec.fallbacks} fallbacks, expected 1")
    run.expect(state.content == FALLBACK, "the fallback's answer did not arrive")


async def _guardrail(run: Run, prompt: str) -> None:
    rule = l0.guardrails.pattern_rule(
        include=["meta_commentary", "refusal", "placeholders"], severity="error"
    )

    def plan(ctx: l0.AttemptContext) -> Script:
        return run.script(GUARD_BAD if ctx.attempt == 1 else GUARD_GOOD)

    state = await run.stream(
        run.factory(prompt, plan),
        [run.target.model("primary")],
        timeout=run.timeout(),
        retry=run.retry(),
        guardrails=[rule],
        check_intervals=l0.CheckIntervals(guardrails=2),
    )
    run.rec.tell("passed")
    run.expect(len(run.rec.violations) == 1, "the meta commentary was not caught")
    run.expect(run.rec.retries == 1, f"{run.rec.retries} retries, expected 1")
    run.expect(state.content == GUARD_GOOD, "the final text is not the clean answer")


async def _structured(run: Run, prompt: str) -> None:
    messages = [{"role": "user", "content": prompt}]

    def plan(ctx: l0.AttemptContext) -> Script:
        return run.script(STRUCT_BAD if ctx.attempt == 1 else STRUCT_GOOD)

    def body(ctx: l0.AttemptContext) -> Mapping[str, Any]:
        # Tell the model what was wrong with its previous answer.
        return {"messages": reask_messages(messages, ctx)}

    def healed(_raw: str, result: Any) -> None:
        kinds = sorted({c.kind for c in result.corrections})
        run.rec.tell(f"healed ({', '.join(kinds)})")

    track = run.rec.track([run.target.model("primary")], echo=_echo(run))
    result: StructuredResult[Release] | None = None
    async with structured_stream(
        Release,
        run.factory(prompt, plan, body=body),
        timeout=run.timeout(),
        retry=run.retry(),
        on_auto_correct=healed,
        **track.options(),
    ) as stream:
        async for item in stream:
            if isinstance(item, FieldComplete) and len(item.path) == 1:
                run.rec.note(f"field {item.path[0]} = {item.value!r}")
            elif isinstance(item, l0.Reset):
                run.view.reset()
                run.rec.reset(item.discarded)
            elif isinstance(item, StructuredResult):
                result = item
    assert result is not None  # the stream ends with its result, or raises
    run.rec.tell(f"valid {type(result.data).__name__}")
    run.expect(result.data == _RELEASE, f"unexpected data: {result.data!r}")
    run.expect(result.attempts == 2, f"{result.attempts} attempts, expected 2")


def _model_of(body: object) -> object:
    return cast("dict[str, Any]", body).get("model") if isinstance(body, dict) else None


def _echo(run: Run) -> Callable[[str], None]:
    def echo(text: str) -> None:
        run.rec.token(text)
        run.view.token(text)

    return echo


async def _race(run: Run, prompt: str) -> None:
    slow, fast = run.target.model("slow"), run.target.model("fast")
    server = run.target.server
    before = len(server.requests) if server is not None else 0
    slow_plan = run.script(RACE, SlowHeaders(seconds=run.pace.slow_first_token))
    # Even at full speed, let the slow request reach the provider before the race is won.
    head_start = max(0.0, _RACE_HEAD_START - run.pace.first_token)
    fast_plan = run.script(RACE, Stall(seconds=head_start, after=0))
    candidates = [
        l0.run(
            run.factory(prompt, lambda _: slow_plan, role="slow"),
            **run.rec.track([slow], label=slow).options(),
            timeout=run.timeout(),
            retry=run.retry(),
        ),
        l0.run(
            run.factory(prompt, lambda _: fast_plan, role="fast"),
            **run.rec.track([fast], label=fast).options(),
            timeout=run.timeout(),
            retry=run.retry(),
        ),
    ]
    names = [slow, fast]
    result = await l0.race(candidates, require="first_token")
    async with result:
        # Decided at the winner's first token: the losers are already cancelled and closed.
        winner = result.winner
        won_at = (winner.first_token_at or 0.0) - (winner.started_at or 0.0)
        run.rec.note(f"{names[result.index]} wins with its first token", "ok")
        run.rec.tell(f"{names[result.index]} won at its first token ({won_at:.2f} s)")
        for loser in result.losers:
            run.rec.note(f"{names[loser.index]}: {loser.status}", "recovery")
            run.rec.tell(f"{names[loser.index]} {loser.status}")
        async for event in result:
            run.consume(event)
    run.expect(result.index == 1, f"{names[result.index]} won the race")
    run.expect(result.outcomes[0].status == "cancelled", "the slow candidate was not cancelled")
    if server is not None:
        # Prove the loser's request is gone: the server saw the client close its connection.
        ids = {r.connection for r in server.requests[before:] if _model_of(r.json) == slow}
        with anyio.move_on_after(5):
            await server.wait_until(
                lambda: all(not c.open for c in server.connections if c.id in ids)
            )
        closed = all(not c.open for c in server.connections if c.id in ids)
        if not ids:
            run.rec.tell("before its request was sent")
        elif closed:
            run.rec.tell("its connection closed")
        run.expect(closed, "the losing request's connection was left open")


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "clean",
        "a clean stream",
        "In two sentences: what does a reliability layer for LLM streams do?",
        _clean,
    ),
    Scenario(
        "stall",
        "a stall, recovered by the inter-token timeout",
        "What is an inter-token timeout?",
        _stall,
    ),
    Scenario(
        "drop",
        "a dropped connection, resumed from the last good token",
        "How should a client recover from a dropped stream?",
        _drop,
    ),
    Scenario(
        "rate-limit",
        "a 429, honoured via Retry-After",
        "What should a client do with HTTP 429?",
        _rate_limit,
    ),
    Scenario(
        "fallback",
        "a dead primary, falling back to a second model",
        "Why keep a second model configured?",
        _fallback,
    ),
    Scenario(
        "guardrail",
        "a guardrail violation, retried",
        "Give one reason to check model output while it streams.",
        _guardrail,
    ),
    Scenario(
        "structured",
        "structured output, healed and validated",
        'Describe the release as JSON: {"name": str, "version": str, "features": [str]}.',
        _structured,
    ),
    Scenario(
        "race",
        "a race: the first token wins, the loser is cancelled",
        "In one sentence: why race two providers?",
        _race,
    ),
)
