"""Many agencies at once with a slow AI provider: is each agency's own concurrency limit the only bound?

`.venv/bin/python bench/scale.py [AGENCIES] [PER_AGENCY] [AI_SECONDS] [ENGINE_WORKERS]` (defaults 20 20 10, and
the dispatcher's default workers). Starts the stack as `make run` does (gunicorn + one dispatcher, bench/_stack.py)
on the bench's own database, with a local OpenAI-compatible server that answers every call after AI_SECONDS.
Every agency assigns a category to PER_AGENCY contacts at once (interleaved across agencies), so each assignment
runs `contact/category.assigned` -> `nurture/sequence.generate` with one AI call.

The baseline is the ideal the agencies' own limits allow: AGENCIES x the `ai` policy's per-tenant limit calls in
flight (fewer when PER_AGENCY is below the limit), each AI_SECONDS long, so ideal sequences/s = AGENCIES x limit /
AI_SECONDS. Prints sequences/s, its ratio
to that ideal, the most AI calls in flight across agencies (and its ratio to AGENCIES x limit), the CPU used per
sequence by the web server (with its workers), the dispatcher and PostgreSQL (the whole embedded server: run
nothing else on it meanwhile), the share of the machine's cores those three used, and the machine's load; and
where the AI lanes stood idle: the emission's time, each agency's first calls' start and the lane handoffs
(`lane_timeline`).
"""

from __future__ import annotations

import os
import sys
import time

from _setup import ROOT, setup_django
from _stack import Stack, ai_env, clear_engine_tables, cpu_seconds, database_cpu_seconds, percentile


def make_agencies(count: int, per_agency: int, *, prefix: str = "scale") -> list[tuple[object, list]]:
    from tenants.models import CategoryAssignment, Contact, NurtureSequence, Tenant

    agencies = []
    for number in range(count):
        slug = f"bench-{prefix}-{number:03d}"
        tenant, _ = Tenant.objects.get_or_create(
            slug=slug, defaults={"name": f"{prefix.title()} Agency {number:03d}", "brand_voice": "Plain and local."}
        )
        NurtureSequence.objects.filter(tenant=tenant).delete()
        CategoryAssignment.objects.filter(tenant=tenant).delete()
        Contact.objects.filter(tenant=tenant).delete()
        Contact.objects.bulk_create(
            Contact(tenant=tenant, first_name=f"Lead{n}", last_name="Scale", email=f"{slug}-{n}@x.example")
            for n in range(per_agency)
        )
        agencies.append((tenant, list(Contact.objects.filter(tenant=tenant).order_by("id"))))
    return agencies


def lane_timeline(calls: list[tuple[str, float, float]], limit: int) -> dict[str, list[float]]:
    """Where the AI lanes stood idle: per agency, the i-th call (i >= limit) waits for the (i - limit)-th to end.

    `handoffs` are those waits (a call ended -> the next run's call started: the run's end, the next run's start
    and its steps before the AI call); `firsts` the start of each agency's first `limit` calls (from the first).
    """
    by_agency: dict[str, list[tuple[float, float]]] = {}
    for agency, started, ended in calls:
        by_agency.setdefault(agency, []).append((started, ended))
    handoffs, firsts = [], []
    for spans in by_agency.values():
        starts = sorted(started for started, _ in spans)
        ends = sorted(ended for _, ended in spans)
        firsts.extend(starts[:limit])
        handoffs.extend(starts[i] - ends[i - limit] for i in range(limit, len(starts)))
    return {"handoffs": sorted(handoffs), "firsts": sorted(firsts)}


def main() -> None:
    agencies_count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    per_agency = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    ai_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    setup_django("scale")
    sys.path.insert(0, str(ROOT))
    from django.conf import settings

    from jobs.models import EventLog, JobRun
    from jobs.policy import FunctionCategory, policy_for
    from tenants.models import NurtureSequence
    from tenants.services import contact_assign_category
    from tests.fakes.openai_server import FakeOpenAI

    workers = int(sys.argv[4]) if len(sys.argv) > 4 else settings.ENGINE_WORKERS
    limit = policy_for(FunctionCategory.AI).tenant_concurrency
    ai = FakeOpenAI(delay=ai_seconds).start()
    clear_engine_tables()
    EventLog.objects.all().delete()
    JobRun.objects.all().delete()
    agencies = make_agencies(agencies_count, per_agency)
    tenants = [tenant for tenant, _ in agencies]
    stack = Stack(
        "scale",
        workers,
        synced_function="nurturehub-nurture-sequence-generate",
        log_level="ERROR",
        extra_env=ai_env(ai, timeout=max(60.0, ai_seconds * 6)),
    )
    settings.INNGEST_BASE_URL = stack.url
    total = agencies_count * per_agency
    lanes = agencies_count * min(limit, per_agency)  # AI calls the agencies' own limits let run at once
    ideal = lanes / ai_seconds
    print(
        f"{agencies_count} agencies x {per_agency} assignments, AI answers after {ai_seconds:g} s, "
        f"`ai` limit {limit} per agency, dispatcher workers {workers}"
    )
    stack.start()
    try:
        web, dispatcher = stack.processes
        cpu_before = cpu_seconds(web.pid), cpu_seconds(dispatcher.pid), database_cpu_seconds()
        started = time.monotonic()  # the clock the local OpenAI server stamps its calls with
        for position in range(per_agency):  # interleaved: every agency's first contact, then every second, ...
            for tenant, contacts in agencies:
                contact_assign_category(
                    tenant=tenant, contact_id=contacts[position].id, category="landlord", source="api"
                )
        emitted = time.monotonic() - started
        deadline = time.monotonic() + max(3600.0, 20 * total * ai_seconds / max(workers, 1))
        while (done := NurtureSequence.objects.filter(tenant__in=tenants).count()) < total:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {done} of {total} sequences arrived in time")
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        web_cpu = cpu_seconds(web.pid) - cpu_before[0]
        engine_cpu = cpu_seconds(dispatcher.pid) - cpu_before[1]
        database_after = database_cpu_seconds()
        database_cpu = None if database_after is None or cpu_before[2] is None else database_after - cpu_before[2]
    finally:
        stack.stop()
        ai.stop()

    rate = total / elapsed
    most = ai.max_in_flight
    print(f"  sequences                  {total:8d} in {elapsed:.1f} s")
    print(f"  sequences/s                {rate:8.2f}")
    print(f"  ideal (agencies' limits)   {ideal:8.2f}   = {lanes} calls at once / {ai_seconds:g} s")
    print(f"  ratio to ideal             {rate / ideal:8.3f}   (aim: 0.8 at 20 x 20 x 10 s)")
    print(f"  most AI calls in flight    {most:8d}   of {lanes} allowed ({most / lanes:.2f})")
    timeline = lane_timeline(ai.calls, min(limit, per_agency))
    handoffs, firsts = timeline["handoffs"], [first - started for first in timeline["firsts"]]
    last_end = max(ended for _, _, ended in ai.calls) - started
    print(f"  assignments emitted in     {emitted:8.2f} s   (the API's path, one at a time)")
    print(
        f"  first AI calls started     {percentile(firsts, 0.5):8.2f} s p50, {firsts[0]:.2f} s first, "
        f"{firsts[-1]:.2f} s last (after the first assignment)"
    )
    print(
        f"  lane handoff (call ended -> next call) p50 {percentile(handoffs, 0.5) * 1000:.0f} ms, "
        f"p95 {percentile(handoffs, 0.95) * 1000:.0f} ms, max {handoffs[-1] * 1000:.0f} ms"
    )
    print(f"  last AI call ended -> all stored {elapsed - last_end:6.2f} s")
    web_ms, engine_ms = web_cpu * 1000 / total, engine_cpu * 1000 / total
    print(f"  CPU per sequence: web      {web_ms:8.1f} ms, dispatcher {engine_ms:.1f} ms", end="")
    print("" if database_cpu is None else f", PostgreSQL {database_cpu * 1000 / total:.1f} ms")
    cores = os.cpu_count() or 1
    used = web_cpu + engine_cpu + (database_cpu or 0.0)
    available = elapsed * cores
    print(f"  CPU used of the machine    {used / available:8.2f}   ({used:.0f} of {available:.0f} core-seconds)")
    print(f"  machine load (1 min avg)   {os.getloadavg()[0]:8.2f}   on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
