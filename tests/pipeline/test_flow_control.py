"""The shared flow-control policy: the Inngest options it spells, and what its CEL expressions decide.

The expressions are evaluated with the engine's CEL evaluator (the same library the local engine runs them with),
on events as they travel on the wire (camelCase, ids as strings or numbers).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import inngest
import pytest

from jobs.engine.expressions import check, evaluate, key_value, matches
from jobs.events import (
    AlertHotLeadFire,
    ContactCategoryAssigned,
    CrmSyncPush,
    Event,
    LeadIntentScore,
    NurtureSequenceGenerate,
)
from jobs.flow_control import (
    CancelOnNewer,
    Debounce,
    FlowControl,
    FlowControlError,
    RateLimit,
    alert_rate_limit,
    flow_options,
    score_debounce,
)

TENANT, OTHER_TENANT, CONTACT = (str(uuid.uuid4()) for _ in range(3))
CANCEL = FlowControl(cancel_on_newer=CancelOnNewer(ContactCategoryAssigned, newer_field="assignmentId"))


def wire(tenant: str = TENANT, contact: str = CONTACT, **data: object) -> dict[str, object]:
    return {"name": "any/event", "data": {"tenantId": tenant, "contactId": contact, **data}}


def cancel_if() -> str:
    (cancel,) = flow_options(CANCEL, NurtureSequenceGenerate)["cancel"]
    assert cancel.event == ContactCategoryAssigned.name
    return cancel.if_exp


def test_every_expression_is_valid_cel_over_the_variables_inngest_offers():
    check(cancel_if(), what="cancel `if`", variables=("event", "async"))
    options = flow_options(
        FlowControl(idempotent_per="assignmentId", interactive_first=True), NurtureSequenceGenerate
    ) | flow_options(FlowControl(debounce_per_contact=score_debounce()), LeadIntentScore)
    check(options["idempotency"], what="idempotency key")
    check(options["priority"].run, what="priority `run`")
    check(options["debounce"].key, what="debounce key")


def test_a_newer_assignment_of_the_same_contact_cancels_the_generation():
    running = wire(assignmentId=41)
    assert matches(cancel_if(), {"event": running, "async": wire(assignmentId=42)})


@pytest.mark.parametrize(
    ("incoming", "why"),
    [
        (wire(assignmentId=40), "an older assignment (a replay) must not cancel newer work"),
        (wire(assignmentId=41), "its own assignment"),
        (wire(contact=str(uuid.uuid4()), assignmentId=42), "another contact"),
        (wire(tenant=OTHER_TENANT, assignmentId=42), "the same contact id under another agency"),
        ({"name": "any/event", "data": {"tenantId": TENANT}}, "an event without the fields"),
    ],
)
def test_no_other_assignment_cancels_it(incoming, why):
    assert not matches(cancel_if(), {"event": wire(assignmentId=41), "async": incoming}), why


def test_idempotency_is_one_run_per_assignment_per_agency():
    key = flow_options(FlowControl(idempotent_per="assignmentId"), NurtureSequenceGenerate)["idempotency"]

    assert key_value(key, {"event": wire(assignmentId=7)}) == f"{TENANT}:7"
    assert key_value(key, {"event": wire(assignmentId=7.0)}) == f"{TENANT}:7"  # a JSON number read as a double
    assert key_value(key, {"event": wire(assignmentId=8)}) != key_value(key, {"event": wire(assignmentId=7)})


@pytest.mark.parametrize(("source", "factor"), [("api", 600), ("admin", 600), ("manual", 600), ("csv-import", 0)])
def test_agents_assignments_run_ahead_of_imports_and_crm_sync(source, factor):
    options = flow_options(FlowControl(interactive_first=True), NurtureSequenceGenerate)

    assert evaluate(options["priority"].run, {"event": wire(source=source)}) == factor
    assert evaluate(options["priority"].run, {"event": wire(source="crm")}) == 0


def test_debounce_and_rate_limit_are_keyed_per_contact_of_one_agency():
    debounced = flow_options(FlowControl(debounce_per_contact=score_debounce()), LeadIntentScore)["debounce"]
    limited = flow_options(FlowControl(rate_limit_per_contact=alert_rate_limit()), AlertHotLeadFire)["rate_limit"]

    for key in (debounced.key, limited.key):
        assert key_value(key, {"event": wire()}) == f"{TENANT}:{CONTACT}"
        assert key_value(key, {"event": wire(tenant=OTHER_TENANT)}) != key_value(key, {"event": wire()})


def test_periods_come_from_settings(settings):
    settings.JOBS_SCORE_DEBOUNCE_SECONDS = 3
    settings.JOBS_SCORE_DEBOUNCE_TIMEOUT_SECONDS = 45
    settings.JOBS_ALERT_RATE_LIMIT = 2
    settings.JOBS_ALERT_RATE_LIMIT_MINUTES = 30

    assert score_debounce() == Debounce(period=timedelta(seconds=3), timeout=timedelta(seconds=45))
    assert alert_rate_limit() == RateLimit(limit=2, period=timedelta(minutes=30))
    options = flow_options(FlowControl(rate_limit_per_contact=alert_rate_limit()), AlertHotLeadFire)
    assert (options["rate_limit"].limit, options["rate_limit"].period) == (2, timedelta(minutes=30))


def test_a_debounce_period_of_zero_turns_it_off(settings):
    settings.JOBS_SCORE_DEBOUNCE_SECONDS = 0

    assert score_debounce() is None
    assert flow_options(FlowControl(debounce_per_contact=score_debounce()), LeadIntentScore) == {}


def test_a_period_under_a_second_is_refused():
    with pytest.raises(FlowControlError, match="at least 1 s"):
        flow_options(
            FlowControl(debounce_per_contact=Debounce(period=timedelta(milliseconds=200), timeout=timedelta(1))),
            LeadIntentScore,
        )


class Untargeted(Event):
    """A payload that names no contact (no `name`: kept out of the catalogue)."""


@pytest.mark.parametrize(
    ("flow", "event", "missing"),
    [
        (CANCEL, CrmSyncPush, "assignmentId"),
        (FlowControl(idempotent_per="assignmentId"), LeadIntentScore, "assignmentId"),
        (FlowControl(debounce_per_contact=score_debounce()), Untargeted, "contactId"),
        (FlowControl(rate_limit_per_contact=alert_rate_limit()), Untargeted, "contactId"),
        (FlowControl(interactive_first=True), LeadIntentScore, "source"),
    ],
)
def test_flow_control_its_event_cannot_key_is_refused_at_import(flow, event, missing):
    with pytest.raises(FlowControlError, match=missing):
        flow_options(flow, event)


def test_no_flow_control_adds_no_option():
    assert flow_options(None, LeadIntentScore) == {}
    assert flow_options(FlowControl(), LeadIntentScore) == {}


def test_the_sdk_sends_the_options_inngest_reads():
    function = inngest.Inngest(app_id="flow-test", is_production=False).create_function(
        fn_id="generate",
        trigger=inngest.TriggerEvent(event=NurtureSequenceGenerate.name),
        **flow_options(
            FlowControl(cancel_on_newer=CANCEL.cancel_on_newer, idempotent_per="assignmentId", interactive_first=True),
            NurtureSequenceGenerate,
        ),
    )(lambda ctx: None)
    config = function.get_config("http://127.0.0.1/api/inngest").main.to_dict()

    assert [(cancel["event"], cancel["if"]) for cancel in config["cancel"]] == [
        (ContactCategoryAssigned.name, cancel_if())
    ]
    assert config["idempotency"] == 'event.data.tenantId + ":" + string(event.data.assignmentId)'
    assert config["priority"] == {"run": 'event.data.source in ["manual", "api", "admin"] ? 600 : 0'}
