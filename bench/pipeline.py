"""The agent pipeline under a noisy neighbour: 1,000 category assignments for one agency and 10 for another.

Starts the web server (gunicorn, as `make run` does) and the local engine (`manage.py run_engine`) as processes of their
own, on the bench's own database, with OPENAI_BASE_URL pointing at a local OpenAI-compatible server that answers
every request in a fixed 200 ms. Each assignment runs `contact/category.assigned` then
`nurture/sequence.generate` (resolve tenant -> build prompt -> call AI -> store; no CRM connected).

Baseline, measured in the same run: the quiet agency's 10 assignments alone (after an unmeasured warm-up).
Then both agencies together (the busy agency's 1,000 first, the quiet one's 10 right after). Prints
sequences/min overall and per agency, the quiet agency's wait (assignment -> stored sequence, mean and max)
together and alone, and their ratio (how much the busy neighbour slows the quiet agency down), plus how many AI
calls ran at once per agency.
Run: `.venv/bin/python bench/pipeline.py [busy] [quiet] [workers]` (defaults 1000, 10, 16).

Flow control (bench/_flow_scenarios.py, each with its own same-run baseline):
`bench/pipeline.py priority [workers]`: an agency's 1,000-contact import beside its agent's API assignments (the
agent's wait beside the import against alone; aim <= 1.5x). `bench/pipeline.py debounce`: 1,000 engagement events
for 100 contacts in 10 s, score computations with the per-contact debounce against without.
`bench/pipeline.py all` runs the three.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass

from _setup import ROOT, setup_django
from _stack import Stack, ai_env, clear_engine_tables

AI_DELAY_SECONDS = 0.2


@dataclass
class Phase:
    sequences: dict[str, int]
    seconds: float
    waits: dict[str, list[float]]
    spans: dict[str, float]  # per agency: its first assignment -> its last stored sequence


def reset(tenants: list) -> None:
    from jobs.models import EventLog, JobRun
    from tenants.models import CategoryAssignment, Contact, NurtureSequence

    clear_engine_tables()
    for model in (EventLog, JobRun):
        model.objects.all().delete()
    NurtureSequence.objects.filter(tenant__in=tenants).delete()
    CategoryAssignment.objects.filter(tenant__in=tenants).delete()
    Contact.objects.filter(tenant__in=tenants).update(category="")


def make_tenant(slug: str, name: str, contacts: int):
    from tenants.models import Contact, Tenant

    tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": name, "brand_voice": "Plain and local."})
    missing = contacts - Contact.objects.filter(tenant=tenant).count()
    Contact.objects.bulk_create(
        Contact(tenant=tenant, first_name=f"Lead{n}", last_name="Bench", email=f"{slug}-{n}-{time.time_ns()}@x.example")
        for n in range(max(missing, 0))
    )
    return tenant


def assign_all(plan: list[tuple]) -> None:
    """Assign a category to each (tenant, contacts) in order; every assignment emits its event on commit."""
    from tenants.services import contact_assign_category

    for tenant, contacts in plan:
        for contact in contacts:
            contact_assign_category(tenant=tenant, contact_id=contact.id, category="landlord", source="csv-import")


def run_phase(plan: list[tuple], *, timeout: float = 3600) -> Phase:
    from tenants.models import CategoryAssignment, NurtureSequence

    tenants = [tenant for tenant, _ in plan]
    expected = sum(len(contacts) for _, contacts in plan)
    started = time.perf_counter()
    assign_all(plan)
    deadline = time.monotonic() + timeout
    while NurtureSequence.objects.filter(tenant__in=tenants).count() < expected:
        if time.monotonic() > deadline:
            raise SystemExit("sequences did not all arrive in time")
        time.sleep(0.2)
    sequences = NurtureSequence.objects.filter(tenant__in=tenants)
    last = max(sequence.created_at for sequence in sequences)
    first_assignment = min(CategoryAssignment.objects.filter(tenant__in=tenants).values_list("assigned_at", flat=True))
    seconds = max((last - first_assignment).total_seconds(), time.perf_counter() - started - 0.2, 1e-6)
    assigned_at = dict(CategoryAssignment.objects.filter(tenant__in=tenants).values_list("contact_id", "assigned_at"))
    waits: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    firsts: dict[str, object] = {}
    lasts: dict[str, object] = {}
    for sequence in sequences.select_related("tenant"):
        slug, assigned = sequence.tenant.slug, assigned_at[sequence.contact_id]
        waits.setdefault(slug, []).append((sequence.created_at - assigned).total_seconds())
        counts[slug] = counts.get(slug, 0) + 1
        firsts[slug] = min(firsts.get(slug, assigned), assigned)
        lasts[slug] = max(lasts.get(slug, sequence.created_at), sequence.created_at)
    spans = {slug: (lasts[slug] - firsts[slug]).total_seconds() for slug in counts}
    return Phase(sequences=counts, seconds=seconds, waits=waits, spans=spans)


def main() -> None:
    scenario = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].isdigit() else "neighbour"
    numbers = [int(arg) for arg in sys.argv[1:] if arg.isdigit()]
    if scenario not in ("neighbour", "priority", "debounce", "all"):
        raise SystemExit(f"unknown scenario {scenario!r}: neighbour, priority, debounce or all")
    setup_django("pipeline")
    sys.path.insert(0, str(ROOT))
    import _flow_scenarios

    if scenario == "neighbour":
        neighbour(*numbers[:3])
    elif scenario == "priority":
        _flow_scenarios.priority(*(numbers[:1] or [16]))
    elif scenario == "all":
        neighbour()
        _flow_scenarios.priority(16)
    if scenario in ("debounce", "all"):
        _flow_scenarios.debounce()


def neighbour(busy_count: int = 1000, quiet_count: int = 10, workers: int = 16) -> None:
    from jobs.policy import FunctionCategory, policy_for
    from tenants.models import Contact
    from tests.fakes.openai_server import FakeOpenAI

    ai = FakeOpenAI(delay=AI_DELAY_SECONDS).start()
    busy = make_tenant("bench-busy", "Busy Lettings", busy_count)
    quiet = make_tenant("bench-quiet", "Quiet Estates", quiet_count)
    busy_contacts = list(Contact.objects.filter(tenant=busy).order_by("id")[:busy_count])
    quiet_contacts = list(Contact.objects.filter(tenant=quiet).order_by("id")[:quiet_count])
    stack = Stack(
        "pipeline",
        workers,
        synced_function="nurturehub-nurture-sequence-generate",
        log_level="ERROR",
        extra_env=ai_env(ai, timeout=30),
        startup_timeout=90,
    )
    from django.conf import settings

    settings.INNGEST_BASE_URL = stack.url
    limit = policy_for(FunctionCategory.AI).tenant_concurrency
    print(
        f"AI answers in a fixed {AI_DELAY_SECONDS * 1000:.0f} ms; per-tenant AI concurrency {limit}; "
        f"engine workers {workers}; {busy_count} + {quiet_count} assignments"
    )
    warmup = make_tenant("bench-warmup", "Warm-up Homes", quiet_count)
    warmup_contacts = list(Contact.objects.filter(tenant=warmup).order_by("id")[:quiet_count])
    reset([busy, quiet, warmup])
    stack.start()
    try:
        run_phase([(warmup, warmup_contacts)])  # first requests pay for imports and connections: not measured
        alone = run_phase([(quiet, quiet_contacts)])
        reset([busy, quiet])
        ai.max_in_flight_by_agency.clear()
        together = run_phase([(busy, busy_contacts), (quiet, quiet_contacts)])
    finally:
        stack.stop()
        ai.stop()

    total = sum(together.sequences.values())
    print(f"\n{'phase':<22} {'sequences':>9} {'seconds':>8} {'seq/min':>9}")
    print(
        f"{'quiet alone':<22} {sum(alone.sequences.values()):>9} {alone.seconds:>8.1f} "
        f"{60 * sum(alone.sequences.values()) / alone.seconds:>9.0f}"
    )
    print(f"{'both together':<22} {total:>9} {together.seconds:>8.1f} {60 * total / together.seconds:>9.0f}")
    for slug, label in (("bench-busy", "  busy agency"), ("bench-quiet", "  quiet agency")):
        span = together.spans[slug]
        print(f"{label:<22} {together.sequences[slug]:>9} {span:>8.1f} {60 * together.sequences[slug] / span:>9.0f}")
    alone_waits, mixed_waits = alone.waits["bench-quiet"], together.waits["bench-quiet"]
    print("\nquiet agency's wait, assignment -> stored sequence (seconds)")
    print(f"{'':<22} {'mean':>8} {'max':>8}")
    print(f"{'alone (baseline)':<22} {statistics.mean(alone_waits):>8.2f} {max(alone_waits):>8.2f}")
    print(f"{'beside the busy one':<22} {statistics.mean(mixed_waits):>8.2f} {max(mixed_waits):>8.2f}")
    print(
        f"{'ratio together/alone':<22} {statistics.mean(mixed_waits) / statistics.mean(alone_waits):>8.2f} "
        f"{max(mixed_waits) / max(alone_waits):>8.2f}"
    )
    print(
        "\nmost AI calls at once: "
        + ", ".join(f"{name} {count}" for name, count in sorted(ai.max_in_flight_by_agency.items()) if name)
        + f" (limit {limit} per agency)"
    )


if __name__ == "__main__":
    main()
