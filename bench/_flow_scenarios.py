"""The pipeline's flow-control scenarios of bench/pipeline.py (each with its same-run baseline):

- `priority`: an agency imports 1,000 contacts (the streamed CSV import: `contact/category.assigned` with source
  csv-import for each) while its agent assigns contacts from the API (source api). The agent's wait (assignment ->
  stored sequence) beside the import, against the same wait with nothing else queued. Aim: at most 1.5x.
- `debounce`: 1,000 engagement events for 100 contacts, paced over 10 s (`engagement_record`, as the engagement API
  stores them). Score computations (IntentScore rows) with the per-contact debounce, against a stack started with
  JOBS_SCORE_DEBOUNCE_SECONDS=0 (every event scored); and whether every contact's final score is the same.
"""

from __future__ import annotations

import io
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from _stack import Stack, ai_env, clear_engine_tables

IMPORT_ROWS = 1000
AGENT_ASSIGNMENTS = 3  # during the import, one every AGENT_SPACING_SECONDS
AGENT_SPACING_SECONDS = 2.0
ENGAGEMENT_CONTACTS = 100
ENGAGEMENT_EVENTS = 1000
ENGAGEMENT_SECONDS = 10.0
SENDERS = 32
ENGAGEMENT_KINDS = ["email.open", "email.open", "email.click", "email.reply"]


def wait_until(condition, *, timeout: float, what: str, poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(poll)


def engine_idle() -> bool:
    """No queued work, no run unfinished, no debounce held: everything sent so far has been dealt with."""
    from jobs.engine.models import PendingDebounce, QueueItem, Run

    return (
        not QueueItem.objects.exists()
        and not PendingDebounce.objects.exists()
        and not Run.objects.filter(status__in=["queued", "running"]).exists()
    )


def settle(timeout: float = 600) -> None:
    """Idle twice, a second apart (a run's follow-on event may be on its way between the two looks)."""
    deadline = time.monotonic() + timeout
    while True:
        wait_until(engine_idle, timeout=max(deadline - time.monotonic(), 1), what="the engine to be idle", poll=0.5)
        time.sleep(1.0)
        if engine_idle():
            return


# --- priority: the agent's assignment beside an import ------------------------------------------------------


@dataclass
class Waits:
    seconds: list[float]

    @property
    def mean(self) -> float:
        return statistics.mean(self.seconds)

    @property
    def worst(self) -> float:
        return max(self.seconds)


def _fresh_contacts(tenant, count: int, prefix: str) -> list:
    from tenants.models import Contact

    stamp = time.time_ns()
    return Contact.objects.bulk_create(
        Contact(tenant=tenant, first_name=f"{prefix}{n}", last_name="Bench", email=f"{prefix}-{n}-{stamp}@x.example")
        for n in range(count)
    )


def _assign_from_the_api(tenant, contact) -> None:
    from tenants.services import contact_assign_category

    contact_assign_category(tenant=tenant, contact_id=contact.id, category="seller", source="api")


def _waits(tenant, contacts: list, *, timeout: float) -> Waits:
    """Assignment -> stored sequence for each contact, once they all have their sequence."""
    from tenants.models import CategoryAssignment, NurtureSequence

    ids = [contact.id for contact in contacts]
    wait_until(
        lambda: NurtureSequence.objects.filter(tenant=tenant, contact_id__in=ids).count() == len(ids),
        timeout=timeout,
        what="the agent's sequences",
    )
    assigned = dict(
        CategoryAssignment.objects.filter(tenant=tenant, contact_id__in=ids).values_list("contact_id", "assigned_at")
    )
    stored = dict(NurtureSequence.objects.filter(contact_id__in=ids).values_list("contact_id", "created_at"))
    return Waits([(stored[contact_id] - assigned[contact_id]).total_seconds() for contact_id in ids])


def _import_csv(rows: int) -> bytes:
    stamp = time.time_ns()
    lines = ["email,first name,last name,category"]
    lines += [f"import{n}-{stamp}@x.example,Import{n},Bench,landlord" for n in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def priority(workers: int) -> None:
    from django.conf import settings

    from jobs.policy import FunctionCategory, policy_for
    from tenants.imports import contacts_import
    from tenants.models import Tenant
    from tests.fakes.openai_server import FakeOpenAI

    ai = FakeOpenAI(delay=0.2).start()
    stack = Stack(
        "pipeline-priority",
        workers,
        synced_function="nurturehub-nurture-sequence-generate",
        log_level="ERROR",
        extra_env=ai_env(ai, timeout=60),
        startup_timeout=120,
    )
    settings.INNGEST_BASE_URL = stack.url
    tenant, _ = Tenant.objects.update_or_create(
        slug="bench-importer", defaults={"name": "Importing Lettings", "brand_voice": "Plain and local."}
    )
    tenant.contacts.all().delete()
    clear_engine_tables()
    print(
        f"\n== priority: {IMPORT_ROWS:,} imported contacts and {AGENT_ASSIGNMENTS} API assignments by the agent "
        f"(AI answers in 200 ms; per-agency AI concurrency {policy_for(FunctionCategory.AI).tenant_concurrency})"
    )
    stack.start()
    try:
        for contact in _fresh_contacts(tenant, 2, "Warmup"):  # first requests pay for imports and connections
            _assign_from_the_api(tenant, contact)
        settle()
        alone_contacts = _fresh_contacts(tenant, AGENT_ASSIGNMENTS, "Alone")
        for contact in alone_contacts:  # one at a time: each alone in the queues
            _assign_from_the_api(tenant, contact)
            _waits(tenant, [contact], timeout=120)
            settle()
        alone = _waits(tenant, alone_contacts, timeout=10)

        beside_contacts = _fresh_contacts(tenant, AGENT_ASSIGNMENTS, "Beside")
        started = time.perf_counter()
        summary = contacts_import(tenant=tenant, stream=io.BytesIO(_import_csv(IMPORT_ROWS)))
        imported_in = time.perf_counter() - started
        for number, contact in enumerate(beside_contacts):
            target = started + imported_in + number * AGENT_SPACING_SECONDS
            time.sleep(max(target - time.perf_counter(), 0))
            _assign_from_the_api(tenant, contact)
        beside = _waits(tenant, beside_contacts, timeout=1800)
        settle(timeout=3600)
        import_done = time.perf_counter() - started
        imported = _waits(tenant, list(tenant.contacts.filter(first_name__startswith="Import")), timeout=10)
    finally:
        stack.stop()
        ai.stop()

    print(f"import: {summary.created:,} contacts taken in {imported_in:.1f} s; all sequences after {import_done:.0f} s")
    print(f"{'agent assignment -> sequence':<34} {'mean s':>8} {'worst s':>8}")
    print(f"{'alone (baseline)':<34} {alone.mean:>8.2f} {alone.worst:>8.2f}")
    print(f"{'beside the import':<34} {beside.mean:>8.2f} {beside.worst:>8.2f}")
    ratios = f"{beside.mean / alone.mean:>8.2f} {beside.worst / alone.worst:>8.2f}"
    print(f"{'ratio beside/alone (aim <= 1.5)':<34} {ratios}")
    # What the agent's work would wait without priority: an imported contact's own wait, in the same run.
    print(f"{'an imported contact (for scale)':<34} {imported.mean:>8.2f} {imported.worst:>8.2f}")


# --- debounce: score computations for a stream of engagement -------------------------------------------------


@dataclass
class ScoringPhase:
    computations: int
    sent_in: float
    finals: dict


def _engagement_phase(
    tenant, contacts: list, schedule: list[tuple[int, str]], *, debounce_seconds: str
) -> ScoringPhase:
    from django.conf import settings
    from django.db import connection

    from tenants.models import Contact, EngagementEvent, IntentScore
    from tenants.services import engagement_record

    EngagementEvent.objects.filter(tenant=tenant).delete()
    IntentScore.objects.filter(tenant=tenant).delete()
    Contact.objects.filter(tenant=tenant).update(intent_score=0)
    clear_engine_tables()
    stack = Stack(
        f"pipeline-debounce-{debounce_seconds}",
        4,
        synced_function="nurturehub-lead-intent-score",
        log_level="ERROR",
        extra_env={"JOBS_SCORE_DEBOUNCE_SECONDS": debounce_seconds, "CONN_MAX_AGE": "0"},
        startup_timeout=120,
    )
    settings.INNGEST_BASE_URL = stack.url

    def record(index: int, kind: str) -> None:
        url = "https://agency.example/listing" if kind == "email.click" else ""
        try:
            engagement_record(tenant=tenant, contact_id=contacts[index].id, kind=kind, url=url, occurred_at=_now())
        finally:
            connection.close()  # this sender thread's own connection

    stack.start()
    try:
        # Each engagement is stored and its event sent as the engagement API does it, one request each: many
        # senders at once, each released at its turn, so the stream keeps its pace however long one send takes.
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=SENDERS) as senders:
            sent = []
            for number, (index, kind) in enumerate(schedule):
                target = started + number * ENGAGEMENT_SECONDS / len(schedule)
                time.sleep(max(target - time.perf_counter(), 0))
                sent.append(senders.submit(record, index, kind))
            for future in sent:
                future.result()
        sent_in = time.perf_counter() - started
        settle()
    finally:
        stack.stop()
    stored = EngagementEvent.objects.filter(tenant=tenant).count()
    if stored != len(schedule):
        raise SystemExit(f"{stored} engagement rows stored of {len(schedule)} sent")
    finals = dict(Contact.objects.filter(tenant=tenant).values_list("id", "intent_score"))
    return ScoringPhase(IntentScore.objects.filter(tenant=tenant).count(), sent_in, finals)


def _now():
    from django.utils import timezone

    return timezone.now()


def debounce() -> None:
    from django.conf import settings

    from tenants.models import Contact, Tenant

    tenant, _ = Tenant.objects.update_or_create(
        slug="bench-engaged", defaults={"name": "Engaged Homes", "brand_voice": "Plain and local."}
    )
    if Contact.objects.filter(tenant=tenant).count() != ENGAGEMENT_CONTACTS:
        tenant.contacts.all().delete()
        _fresh_contacts(tenant, ENGAGEMENT_CONTACTS, "Engaged")
    contacts = list(Contact.objects.filter(tenant=tenant).order_by("id"))
    chooser = random.Random(11)  # the same stream for both phases
    schedule = [(n % ENGAGEMENT_CONTACTS, chooser.choice(ENGAGEMENT_KINDS)) for n in range(ENGAGEMENT_EVENTS)]
    chooser.shuffle(schedule)
    period = str(settings.JOBS_SCORE_DEBOUNCE_SECONDS)
    print(
        f"\n== debounce: {ENGAGEMENT_EVENTS:,} engagement events for {ENGAGEMENT_CONTACTS} contacts over "
        f"{ENGAGEMENT_SECONDS:.0f} s (debounce period {period} s per contact)"
    )
    without = _engagement_phase(tenant, contacts, schedule, debounce_seconds="0")
    with_debounce = _engagement_phase(tenant, contacts, schedule, debounce_seconds=period)
    differ = sum(1 for pk, score in without.finals.items() if with_debounce.finals.get(pk) != score)
    print(f"{'':<28} {'scorings':>9} {'sent in s':>10}")
    print(f"{'without debounce (baseline)':<28} {without.computations:>9} {without.sent_in:>10.1f}")
    print(f"{'with debounce':<28} {with_debounce.computations:>9} {with_debounce.sent_in:>10.1f}")
    print(f"{'ratio with/without':<28} {with_debounce.computations / without.computations:>9.2f}")
    print(f"contacts whose final score differs between the two: {differ} of {ENGAGEMENT_CONTACTS}")
