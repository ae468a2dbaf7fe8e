"""The asynchronous guardrail rules of a stream: how they are called, and the checker task
that runs them off the token path.

Inline (a bare ``async for`` or ``read()``: no task group to run a task in), the runtime
awaits :func:`call_rules` at each check point, in the consumer's task, and the source waits.
Inside ``async with l0.session()`` or ``async with stream``, a :class:`CheckerTask` runs them
in a task of its own under that task group: the token path only asks it to look at the new
output (:meth:`CheckerTask.request`), keeps streaming, and hands each verdict to the engine,
in order, at the next part (:meth:`CheckerTask.take`). At the end of the source the runtime
waits for the checks in flight (:meth:`CheckerTask.drain`) before the completion checks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import anyio

from l0._engine._actions import RuleCall

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from l0._engine import Engine
    from l0._events._observability import GuardrailViolation
    from l0._guardrails import AsyncGuardrailsChecker

__all__ = ["CheckerTask", "Outcome", "apply", "call_rules", "check_async"]

Outcome = tuple["Sequence[GuardrailViolation] | Exception", tuple[RuleCall, ...]]
"""What a round of asynchronous checks gives: the new violations (or what a rule raised),
and how each rule's call went."""


async def call_rules(
    checker: AsyncGuardrailsChecker,
    names: Sequence[str],
    clock: Callable[[], float],
    *,
    pending: tuple[str, int] | None = None,
    finish: str | None = None,
) -> Outcome:
    """Call each asynchronous rule in order on ``pending`` (a delta and its offset) or, with
    ``finish`` (the whole output), its unfed rest and the completion check. A rule that
    raises ends the round: its exception is the outcome."""
    found: list[GuardrailViolation] = []
    calls: list[RuleCall] = []
    for index, (rule, name) in enumerate(zip(checker.checkers, names, strict=True)):
        start = clock()
        try:
            if finish is not None:
                new = await rule.finish(finish)
            else:
                assert pending is not None
                new = await rule.feed(*pending)
        except Exception as exc:  # a user's rule raised: the attempt fails (see apply)
            spent = (clock() - start) * 1000
            calls.append(
                RuleCall(
                    index=index,
                    rule_id=name,
                    start=start,
                    duration_ms=spent,
                    error=type(exc).__name__,
                )
            )
            return exc, tuple(calls)
        calls.append(
            RuleCall(index=index, rule_id=name, start=start, duration_ms=(clock() - start) * 1000)
        )
        found.extend(new)
    return found, tuple(calls)


def apply(engine: Engine, outcome: Outcome) -> None:
    """Give the engine a round's verdict (its input ``async_verdict`` or ``async_failed``)."""
    result, calls = outcome
    if isinstance(result, Exception):
        engine.async_failed(result, calls)
    else:
        engine.async_verdict(result, calls)


class CheckerTask:
    """The stream's guardrail checker task: runs the asynchronous rules on the output the
    token path has produced, one round at a time, off the token path.

    Requests made while a round runs are merged: the next round takes all the output added
    since. Verdicts queue up in order and belong to the attempt whose checker produced them;
    a new attempt cancels the round in flight and drops the old attempt's verdicts.
    """

    __slots__ = ("_busy", "_due", "_idle", "_round", "_scope", "_verdicts", "_wake", "engine")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._verdicts: deque[tuple[AsyncGuardrailsChecker, Outcome]] = deque()
        self._wake = anyio.Event()
        self._idle: anyio.Event | None = None
        self._due = False
        self._busy = False
        self._scope = anyio.CancelScope()
        self._round: anyio.CancelScope | None = None

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """The task's body: wait for a request, run a round, queue its verdict; until closed."""
        engine = self.engine
        with self._scope:
            task_status.started()
            while True:
                while not self._due:
                    self._settle()
                    self._wake = anyio.Event()
                    await self._wake.wait()
                self._due = False
                checks = engine.checks
                checker = checks.async_checker if checks is not None else None
                if checks is None or checker is None:
                    continue
                pending = checks.async_pending(engine.parts)
                if pending is None:
                    continue
                self._busy = True
                outcome: Outcome | None = None
                with anyio.CancelScope() as self._round:
                    outcome = await call_rules(
                        checker, checks.async_names, anyio.current_time, pending=pending
                    )
                self._round = None
                self._busy = False
                if outcome is not None:  # not cancelled by a new attempt
                    self._verdicts.append((checker, outcome))
                    engine.poke()

    def _settle(self) -> None:
        idle = self._idle
        if idle is not None:
            self._idle = None
            idle.set()

    @property
    def ready(self) -> bool:
        """Whether verdicts are waiting to be taken."""
        return bool(self._verdicts)

    def request(self) -> None:
        """Look at the output not checked yet (now, or after the round in flight)."""
        self._due = True
        self._wake.set()

    def take(self) -> None:
        """Give the engine the verdicts that are waiting, in order (stale ones dropped)."""
        verdicts = self._verdicts
        engine = self.engine
        while verdicts:
            checker, outcome = verdicts.popleft()
            checks = engine.checks
            if checks is not None and checks.async_checker is checker:
                apply(engine, outcome)

    async def drain(self) -> None:
        """Wait until no round is running or requested (then :meth:`take` the verdicts)."""
        while (self._busy or self._due) and not self._scope.cancel_called:
            if self._idle is None:
                self._idle = anyio.Event()
            await self._idle.wait()

    def reset(self) -> None:
        """A new attempt begins: cancel the round in flight and forget pending requests."""
        self._due = False
        if self._round is not None:
            self._round.cancel()
        self._verdicts.clear()

    def close(self) -> None:
        """Stop the task (idempotent); it ends at once."""
        self._scope.cancel()
        self._settle()


async def check_async(
    engine: Engine,
    task_group: TaskGroup | None,
    task: CheckerTask | None,
    *,
    end: bool,
    complete: bool = True,
    clock: Callable[[], float] = anyio.current_time,
) -> CheckerTask | None:
    """The asynchronous rules' turn at a check point, or at the ``end`` of the source (with
    the completion checks if ``complete``: not for a truncated body).

    At a check point with a task group, the checker task (started here the first time) is
    asked to look, and the token path goes on. Otherwise, and at the end, the rules are
    awaited here, in the consumer's task; at the end the checker task's rounds in flight are
    waited for first, and their verdicts applied. Returns the checker task.
    """
    checks = engine.checks
    assert checks is not None
    checker = checks.async_checker
    assert checker is not None
    if not end and task_group is not None:
        engine.async_due = False
        if task is None:
            task = CheckerTask(engine)
            await task_group.start(task.run)
        task.request()
        return task
    if end and task is not None:
        await task.drain()
        task.take()
    if engine.failure is None:
        names = checks.async_names
        outcome: Outcome = ((), ())
        if end and complete:
            outcome = await call_rules(checker, names, clock, finish=engine.state.content)
        else:
            pending = checks.async_pending(engine.parts)
            if pending is not None:
                outcome = await call_rules(checker, names, clock, pending=pending)
        apply(engine, outcome)
    return task
