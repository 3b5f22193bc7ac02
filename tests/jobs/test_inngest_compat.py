"""The SDK's private names that `jobs/inngest_compat.py` reads: these fail when an Inngest SDK upgrade moves them."""

from __future__ import annotations

import dataclasses
import enum
import typing

import inngest

from jobs import inngest_compat
from jobs.client import inngest_client
from jobs.engine import protocol as engine_protocol


def _function(**options):
    @inngest_client.create_function(fn_id="compat-probe", trigger=inngest.TriggerEvent(event="compat/probe"), **options)
    def probe(ctx: inngest.ContextSync) -> None:
        return None

    return probe


def test_a_functions_declared_retries_are_read_back():
    assert inngest_compat.function_retries(_function(retries=3)) == 3
    assert inngest_compat.function_retries(_function()) is None


def test_the_step_of_a_transform_output_result_carries_an_opcode_with_the_wire_names_we_compare():
    hints = typing.get_type_hints(inngest.TransformOutputResult)
    step_type = next(arg for arg in typing.get_args(hints["step"]) if arg is not type(None))
    opcode_type = typing.get_type_hints(step_type)["op"]
    assert {field.name for field in dataclasses.fields(step_type)} >= {"id", "op"}
    assert issubclass(opcode_type, enum.Enum)
    wire_names = {member.value for member in opcode_type}
    ours = {inngest_compat.STEP_RUN, inngest_compat.STEP_ERROR, inngest_compat.STEP_FAILED, inngest_compat.SLEEP}
    assert ours <= wire_names


def test_the_opcode_is_read_from_a_real_result():
    hints = typing.get_type_hints(inngest.TransformOutputResult)
    step_type = next(arg for arg in typing.get_args(hints["step"]) if arg is not type(None))
    opcode_type = typing.get_type_hints(step_type)["op"]
    step = step_type(id="store-sequence", op=opcode_type(inngest_compat.STEP_ERROR), opts=None)
    result = inngest.TransformOutputResult(error=None, output=None, step=step)

    assert inngest_compat.step_opcode(result) == "StepError"
    assert inngest_compat.step_id(result) == "store-sequence"
    assert inngest_compat.step_opcode(inngest.TransformOutputResult(error=None, output=None, step=None)) is None


def test_the_local_engine_uses_the_same_backoff_table():
    # Until the engine imports the table from `jobs.inngest_compat`, its copy must stay the same.
    assert engine_protocol.BACKOFF_TABLE_SECONDS == inngest_compat.BACKOFF_TABLE_SECONDS
    assert engine_protocol.BACKOFF_JITTER_SECONDS == inngest_compat.BACKOFF_JITTER_SECONDS
