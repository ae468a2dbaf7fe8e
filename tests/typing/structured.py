"""Structured output as users write it, checked by pyright (strict): ``l0.structured`` called
after ``import l0``, the names imported from the ``l0.structured`` module, the streaming form
and ``Session.structured``.

(``import l0.structured`` makes type checkers see ``l0.structured`` as the module, which they
do not let you call: call ``l0.structured.structured(...)`` there, as in ``module_form``.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
from typing_extensions import TypedDict, assert_type

import l0
from l0.structured import (
    FieldComplete,
    Healed,
    InvalidJSON,
    PartialJSON,
    Schema,
    SchemaValidationError,
    StructuredResult,
    StructuredStream,
    ValidationIssue,
    heal,
    parse,
    reask_messages,
    structured,
    structured_array,
    structured_object,
    structured_stream,
)


class User(msgspec.Struct):
    name: str
    age: int


class Point(TypedDict):
    x: int
    y: int


async def model() -> AsyncIterator[str]:
    yield '{"name": "Ada", "age": 36}'


async def top_level() -> None:
    result = await l0.structured(User, model)
    assert_type(result, l0.StructuredResult[User])
    assert_type(result.data, User)
    assert_type(result.raw, str)
    assert_type(result.corrected, bool)
    assert_type(result.state, l0.State)
    assert_type(result.time_to_first_token, float | None)
    schema_dict = await l0.structured({"type": "object"}, model, retry=l0.Retry(attempts=2))
    assert_type(schema_dict.data, Any)
    point = await l0.structured(Point, model, auto_correct=False, strict_mode=True)
    assert_type(point.data, Point)
    rows = await l0.structured_array(User, model)
    assert_type(rows.data, list[User])


async def from_the_module() -> None:
    result = await structured(Schema(User), model, reask=False, fallbacks=[model])
    assert_type(result, StructuredResult[User])
    obj = await structured_object({"name": str}, model)
    assert_type(obj.data, dict[str, Any])
    rows = await structured_array(User, model)
    assert_type(rows.data, list[User])
    try:
        await structured(User, model)
    except l0.AllStreamsExhausted as exc:
        for error in exc.errors:
            if isinstance(error, SchemaValidationError):
                assert_type(error.issues, tuple[ValidationIssue, ...])
                assert_type(error.code, l0.ErrorCode)
            elif isinstance(error, InvalidJSON):
                assert_type(error.position, int | None)


async def streaming() -> None:
    stream = structured_stream(User, model)
    assert_type(stream, StructuredStream[User])
    async with stream:
        async for item in stream:
            if isinstance(item, FieldComplete):
                assert_type(item.path, tuple[str | int, ...])
            elif isinstance(item, StructuredResult):
                assert_type(item.data, User)


async def in_a_session() -> None:
    async with l0.session(retry=l0.Retry(attempts=2)) as session:
        result = await session.structured(User, model, on_validation_error=print)
        assert_type(result, StructuredResult[User])
        loose = await session.structured({"type": "array"}, model)
        assert_type(loose.data, Any)


def pure_tools(ctx: l0.AttemptContext) -> None:
    assert_type(heal('{"a": 1'), Healed)
    assert_type(parse("[1]"), Any)
    parser = PartialJSON()
    parser.feed('{"a": ')
    assert_type(parser.value, Any)
    messages = reask_messages([{"role": "user", "content": "hi"}], ctx, schema=User)
    assert_type(messages, list[dict[str, Any]])


async def module_form() -> None:
    import l0.structured as module  # noqa: PLC0415 - the other way to reach it

    result = await module.structured(User, model)
    assert_type(result.data, User)
    assert_type(module.heal("[1"), Healed)
