"""`POST /v0/gql`: the part of Inngest's dev-server GraphQL API that SDK test suites and operators' tools read.

Names and shapes follow Inngest's schema (pkg/coreapi/gql.schema.graphql, gql.query.graphql): `run(runID)`
with its status, output and trace, `runTrigger(runID)`, `runTraceSpanOutputByID(outputID)` and
`event(query: {eventId})` with the runs it started. `Bytes` fields are JSON text, as Inngest sends them.
Mounted only with the local engine; outside development it needs the signing key (as the engine's REST side does).
The signing key reads every agency's runs and events here: there are no scopes (it is the operator's tool, as
Inngest's dev server API is), so the key must stay with the operators.

Bounded work for any caller: a body over `MAX_BODY_BYTES` is a 413; the body goes through the engine's one
validation layer (request_checks.py: UTF-8, depth, NUL); ids are checked before they reach a query; and
strawberry's own extensions bound the document (tokens, aliases, depth) before anything is resolved.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import strawberry
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from strawberry.django.views import GraphQLView
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from .auth import UNAUTHORIZED, signing_key_matches
from .models import Event as EventRow
from .models import Run
from .protocol import ProtocolError
from .request_checks import check_value, checked_id, read_json
from .selectors import TraceSpan, TraceStep, run_trace, run_trace_steps, trace_span_get

#: The largest query Inngest's SDK test suites and operator tools send is a few KB; variables are ids.
MAX_BODY_BYTES = 64 * 1024
#: graphql-core stops parsing past this many tokens (thousands of directives or fields used to take seconds).
MAX_TOKENS = 2_000
#: Aliases of one field: each alias resolves again (2,000 `run` aliases, or 500 `__schema`, took 15-55 s).
MAX_ALIASES = 20
#: The schema's deepest useful query (event -> functionRuns -> run -> trace -> childrenSpans ...) is well within it.
MAX_DEPTH = 12

# Inngest's FunctionRunStatus and RunTraceSpanStatus (a retried attempt FAILED; a sleep is WAITING).
RUN_STATUS = {status: status.upper() for status in ("queued", "running", "completed", "failed", "cancelled")}
SPAN_STATUS = {
    "completed": "COMPLETED",
    "failed": "FAILED",
    "retrying": "FAILED",
    "sleeping": "WAITING",
    "planned": "QUEUED",
}
STEP_OP = {
    "StepRun": "RUN",
    "StepError": "RUN",
    "StepFailed": "RUN",
    "StepPlanned": "RUN",
    "Sleep": "SLEEP",
    "AIGateway": "AI_GATEWAY",  # coreapi gql.schema.graphql StepOp
}


def _json_text(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


@strawberry.type
class StepError:
    message: str
    name: str | None
    stack: str | None


@strawberry.type
class RunTraceSpanOutput:
    data: str | None
    error: StepError | None


@strawberry.type
class RunTraceSpan:
    name: str
    status: str
    attempts: int | None
    span_id: str = strawberry.field(name="spanID")
    output_id: str | None = strawberry.field(name="outputID")
    step_id: str | None = strawberry.field(name="stepID")
    step_op: str | None
    queued_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    duration: int | None
    is_root: bool
    children_spans: list[RunTraceSpan]

    @classmethod
    def for_attempt(cls, span: TraceSpan) -> RunTraceSpan:
        return cls(
            name=f"Attempt {span.attempt}" if span.status != "planned" else "Planned",
            status=SPAN_STATUS.get(span.status, "COMPLETED"),
            attempts=span.attempt,
            span_id=span.span_id,
            output_id=span.span_id,
            step_id=span.step_id or None,
            step_op=STEP_OP.get(span.op),
            queued_at=span.started_at,
            started_at=span.started_at,
            ended_at=span.ended_at,
            duration=_duration_ms(span.started_at, span.ended_at),
            is_root=False,
            children_spans=[],
        )

    @classmethod
    def for_step(cls, step: TraceStep) -> RunTraceSpan:
        result = step.result
        first, last = step.spans[0], step.spans[-1]
        return cls(
            name=step.name,
            status=SPAN_STATUS.get(last.status, "COMPLETED"),
            attempts=result.attempt if result else 0,
            span_id=step.step_id,
            output_id=result.span_id if result else None,
            step_id=step.step_id,
            step_op=STEP_OP.get(last.op),
            queued_at=first.started_at,
            started_at=first.started_at,
            ended_at=last.ended_at,
            duration=_duration_ms(first.started_at, last.ended_at),
            is_root=False,
            children_spans=[cls.for_attempt(span) for span in step.spans],
        )


def _duration_ms(start: datetime, end: datetime | None) -> int | None:
    return round((end - start).total_seconds() * 1000) if end else None


@strawberry.type
class FunctionRun:
    id: str


@strawberry.type
class FunctionRunV2:
    id: str
    status: str
    output: str | None
    queued_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    event_name: str | None
    row: strawberry.Private[Run]

    @strawberry.field
    def trace(self) -> RunTraceSpan:
        """The run's root span; its children are the steps (each with its attempts), in the order they began."""
        spans = run_trace(self.id)
        return RunTraceSpan(
            name=self.row.function.name or self.row.function.slug,
            status=self.status,
            attempts=None,
            span_id=self.id,
            output_id=None,
            step_id=None,
            step_op=None,
            queued_at=self.queued_at,
            started_at=self.started_at,
            ended_at=self.ended_at,
            duration=_duration_ms(self.started_at, self.ended_at) if self.started_at else None,
            is_root=True,
            children_spans=[RunTraceSpan.for_step(step) for step in run_trace_steps(spans)],
        )

    @classmethod
    def from_row(cls, run: Run) -> FunctionRunV2:
        # A failed run's output is its error exactly as the SDK sent it, as on Inngest.
        output = run.error if run.status in (Run.Status.FAILED, Run.Status.CANCELLED) else run.output
        finished = run.status in Run.FINISHED
        return cls(
            id=run.run_id,
            status=RUN_STATUS[run.status],
            output=_json_text(output) if finished else None,
            queued_at=run.created_at,
            started_at=run.started_at,
            ended_at=run.ended_at,
            event_name=(run.events[0].get("name") if run.events else None),
            row=run,
        )


@strawberry.type
class RunTraceTrigger:
    event_name: str | None
    payloads: list[str]
    ids: list[str] = strawberry.field(name="IDs")
    timestamp: datetime


@strawberry.type
class Event:
    id: str
    name: str | None
    created_at: datetime | None
    raw: str | None
    row: strawberry.Private[EventRow]

    @strawberry.field
    def payload(self) -> str:
        return _json_text(self.row.data)

    @strawberry.field
    def function_runs(self) -> list[FunctionRun]:
        return [FunctionRun(id=run_id) for run_id in self.row.runs.order_by("id").values_list("run_id", flat=True)]


@strawberry.input
class EventQuery:
    event_id: strawberry.ID
    workspace_id: strawberry.ID = strawberry.ID("local")


def _checked(value: str, what: str) -> str:
    """The id when it can be one; otherwise a GraphQL error naming the argument (never the database's message)."""
    try:
        return checked_id(value, what=what)
    except ProtocolError as error:
        raise ValueError(str(error)) from None


def _run(run_id: str) -> Run | None:
    return Run.objects.select_related("function").filter(run_id=_checked(run_id, "runID")).first()


@strawberry.type
class Query:
    @strawberry.field
    def run(self, run_id: Annotated[str, strawberry.argument(name="runID")]) -> FunctionRunV2 | None:
        run = _run(run_id)
        return FunctionRunV2.from_row(run) if run else None

    @strawberry.field
    def run_trigger(self, run_id: Annotated[str, strawberry.argument(name="runID")]) -> RunTraceTrigger:
        run = _run(run_id)
        if run is None:
            raise ValueError(f"no run with id {run_id!r}")
        events = run.events or []
        return RunTraceTrigger(
            event_name=events[0].get("name") if events else None,
            payloads=[_json_text(event) for event in events],
            ids=[str(event.get("id", "")) for event in events],
            timestamp=run.created_at,
        )

    @strawberry.field(name="runTraceSpanOutputByID")
    def run_trace_span_output_by_id(
        self, output_id: Annotated[str, strawberry.argument(name="outputID")]
    ) -> RunTraceSpanOutput:
        span = trace_span_get(_checked(output_id, "outputID"))
        if span is None:
            raise ValueError(f"no span output with id {output_id!r}")
        error = span.error if isinstance(span.error, dict) else None
        return RunTraceSpanOutput(
            data=None if error is not None else _json_text(span.output),
            error=StepError(
                message=str(error.get("message") or ""),
                name=error.get("name"),
                stack=error.get("stack"),
            )
            if error is not None
            else None,
        )

    @strawberry.field
    def event(self, query: EventQuery) -> Event | None:
        row = EventRow.objects.filter(internal_id=_checked(str(query.event_id), "eventId")).first()
        if row is None:
            return None
        return Event(
            id=row.internal_id,
            name=row.name,
            created_at=row.received_at,
            raw=_json_text(row.to_inngest()),
            row=row,
        )


schema = strawberry.Schema(
    query=Query,
    extensions=[
        # factories: strawberry builds a fresh extension per request from each
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
    ],
)
_graphql_view = GraphQLView.as_view(schema=schema, graphql_ide=None)


@csrf_exempt
def graphql_view(request: HttpRequest) -> HttpResponse:
    """Answer GraphQL; outside development only for a caller holding the signing key."""
    if not signing_key_matches(request):
        return JsonResponse({"errors": [{"message": UNAUTHORIZED}]}, status=401)
    if request.method == "POST":
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _refused(400, "Content-Length is not a number")
        if length > MAX_BODY_BYTES:
            return _refused(413, f"the body is {length} bytes; the limit is {MAX_BODY_BYTES}")
        if request.content_type == "application/json":
            try:
                check_value(read_json(request.body, what="the body"), where="the body")
            except ProtocolError as error:
                return _refused(400, str(error))
    return _graphql_view(request)


def _refused(status: int, message: str) -> JsonResponse:
    return JsonResponse({"data": None, "errors": [{"message": message}]}, status=status)
