"""The ``json`` rule (incremental structure) and the ``strict_json`` rule (completion)."""

from __future__ import annotations

import re

import msgspec

from l0._guardrails._rule import Checker, Rule, Severity, check_severity

__all__ = ["json_rule", "strict_json_rule"]

_STRUCT = re.compile(r'[{}\[\]"]')
_IN_STRING = re.compile(r'["\\]')
_NON_SPACE = re.compile(r"\S")
_JSON_FENCE = re.compile(r"(?i)`{3,}[ \t]*(?:json[a-z0-9]{0,8})?")
_CLOSER = {"{": "}", "[": "]"}

# scanner states
_START = 0  # before the first non-space character
_FENCE_HEAD = 1  # reading a leading ``` line
_AFTER_FENCE = 2  # after a ```json line, before the value
_VALUE = 3  # inside an object or array, outside strings
_STRING = 4  # inside a string
_BETWEEN = 5  # after a complete top-level value
_DONE = 6  # not JSON, or broken: nothing more to check

_MAX_DEPTH = 512


class _JsonChecker(Checker):
    """A linear scanner of JSON structure: brackets, closers, strings.

    The output is JSON when its first non-space character is ``{`` or ``[`` (or is, after
    a leading ```json or bare ``` fence line). After a complete top-level value, another
    one may follow (JSON lines); anything else ends the checks: trailing prose is
    ``strict_json``'s concern. The first structural error also ends them (one violation,
    not a cascade).
    """

    __slots__ = ("_escape", "_fence_head", "_require", "_stack", "_state", "_string_start")

    def __init__(self, rule: Rule, require: bool) -> None:
        super().__init__(rule)
        self._require = require
        self._state = _START
        self._stack: list[tuple[str, int]] = []
        self._escape = False
        self._string_start = 0
        self._fence_head = ""

    def _not_json(self, position: int) -> None:
        self._state = _DONE
        if self._require:
            self.report(
                "not_json",
                "the output does not start with a JSON object or array",
                position,
            )

    def _scan(self, delta: str, offset: int, final: bool) -> None:
        state = self._state
        if state == _DONE:
            return
        i = 0
        n = len(delta)
        stack = self._stack
        while i < n:
            if state == _VALUE:
                m = _STRUCT.search(delta, i)
                if m is None:
                    break
                i = m.end()
                ch = m.group()
                if ch == '"':
                    state = _STRING
                    self._string_start = offset + i - 1
                elif ch in "{[":
                    if len(stack) >= _MAX_DEPTH:
                        self.report(
                            "too_deep", f"JSON nested deeper than {_MAX_DEPTH}", offset + i - 1
                        )
                        state = _DONE
                        break
                    stack.append((_CLOSER[ch], offset + i - 1))
                else:
                    expected, opened = stack[-1]
                    if ch != expected:
                        self.report(
                            "mismatched_closer",
                            f"JSON: {ch!r} closes the bracket opened at {opened}, "
                            f"which needs {expected!r}",
                            offset + i - 1,
                            metadata={"expected": expected, "found": ch},
                        )
                        state = _DONE
                        break
                    stack.pop()
                    if not stack:
                        state = _BETWEEN
            elif state == _STRING:
                if self._escape:
                    self._escape = False
                    i += 1
                    continue
                m = _IN_STRING.search(delta, i)
                if m is None:
                    break
                i = m.end()
                if m.group() == '"':
                    state = _VALUE
                elif i < n:
                    i += 1
                else:
                    self._escape = True
            elif state == _FENCE_HEAD:
                nl = delta.find("\n", i)
                chunk = delta[i:] if nl < 0 else delta[i:nl]
                if len(self._fence_head) < 64:
                    self._fence_head += chunk[: 64 - len(self._fence_head)]
                if nl < 0:
                    break
                i = nl + 1
                if _JSON_FENCE.fullmatch(self._fence_head.rstrip()) is None:
                    self._not_json(offset + i - 1)
                    state = _DONE
                    break
                state = _AFTER_FENCE
            else:  # _START, _AFTER_FENCE, _BETWEEN: look at the next non-space character
                m = _NON_SPACE.search(delta, i)
                if m is None:
                    break
                i = m.end()
                ch = m.group()
                if ch in "{[":
                    stack.append((_CLOSER[ch], offset + i - 1))
                    state = _VALUE
                elif state == _START and ch == "`":
                    self._fence_head = "`"
                    state = _FENCE_HEAD
                elif state == _BETWEEN:
                    if ch in "}]":
                        self.report(
                            "unexpected_closer",
                            f"JSON: {ch!r} after the end of the top-level value",
                            offset + i - 1,
                        )
                    state = _DONE
                    break
                else:
                    self._not_json(offset + i - 1)
                    state = _DONE
                    break
        self._state = state
        if state == _DONE:
            self._idle = True  # not JSON, or broken: nothing more to check

    def _complete(self, full_text: str) -> None:
        state = self._state
        if state == _FENCE_HEAD and self._require:
            self.report("not_json", "the output does not contain a JSON value", len(full_text))
        if state == _STRING:
            self.report(
                "unterminated_string",
                "JSON: the output ends inside a string",
                self._string_start,
            )
        if state in (_VALUE, _STRING) and self._stack:
            closers = "".join(closer for closer, _ in reversed(self._stack))
            self.report(
                "unclosed_bracket",
                f"JSON: the output ends with {len(self._stack)} unclosed bracket(s), "
                f"missing {closers!r}",
                self._stack[0][1],
                metadata={"missing": closers},
            )


def json_rule(
    *,
    severity: Severity = "error",
    recoverable: bool | None = None,
    require: bool = False,
    name: str = "json",
) -> Rule:
    """Incremental JSON structure: brackets balance, closers match, strings end.

    Applies when the output is JSON: its first non-space character is ``{`` or ``[``, or a
    leading ```json fence line precedes one. During streaming: a closer that does not
    match its opener (``[1, 2}``), a closer after the top-level value ends (``{}}``),
    nesting deeper than 512. At completion: an unterminated string, unclosed brackets.
    With ``require=True`` output that does not start as JSON is itself a violation
    (``not_json``, reported as soon as the first character shows it). Linear in the
    output, state: the bracket stack. Default severity ``error``.
    """
    severity = check_severity("json_rule severity", severity)

    def start(rule: Rule) -> _JsonChecker:
        return _JsonChecker(rule, require)

    return Rule(
        name=name,
        severity=severity,
        recoverable=severity != "fatal" if recoverable is None else recoverable,
        description="JSON structure: balanced brackets, matching closers, terminated strings",
        factory=start,
    )


class _StrictJsonChecker(Checker):
    __slots__ = ("_allow_scalars",)

    feeds = False

    def __init__(self, rule: Rule, allow_scalars: bool) -> None:
        super().__init__(rule)
        self._allow_scalars = allow_scalars

    def _complete(self, full_text: str) -> None:
        text = full_text.strip()
        if not text:
            return  # empty output is zero_output's to report
        try:
            value = msgspec.json.decode(text)
        except msgspec.DecodeError as exc:
            self.report("invalid_json", f"the output is not valid JSON: {exc}", None)
            return
        except RecursionError:  # msgspec's guard against very deep nesting
            self.report("invalid_json", "the output is JSON nested too deeply to parse", None)
            return
        if not self._allow_scalars and not isinstance(value, (dict, list)):
            self.report(
                "not_container",
                f"the output is a JSON {type(value).__name__}, not an object or array",
                0,
            )


def strict_json_rule(
    *,
    severity: Severity = "error",
    recoverable: bool | None = None,
    allow_scalars: bool = False,
    name: str = "strict_json",
) -> Rule:
    """At completion, the whole output (surrounding whitespace aside) must parse as JSON.

    Parsed with msgspec; no code fence or prose around it is allowed. Unless
    ``allow_scalars``, the value must be an object or an array. Empty output is left to
    ``zero_output``. Default severity ``error``.
    """
    severity = check_severity("strict_json_rule severity", severity)

    def start(rule: Rule) -> _StrictJsonChecker:
        return _StrictJsonChecker(rule, allow_scalars)

    return Rule(
        name=name,
        severity=severity,
        recoverable=severity != "fatal" if recoverable is None else recoverable,
        description="the whole output parses as JSON (an object or an array)",
        checks_streaming=False,
        factory=start,
    )
