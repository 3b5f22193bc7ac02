"""A quiet agency's single assignment while 20 agencies import: does it wait longer than it would alone?

`.venv/bin/python bench/quiet.py [AGENCIES] [PER_AGENCY] [AI_SECONDS] [SAMPLES]` (defaults 20 20 3 and 3).
Starts the stack as `make run` does (gunicorn + one dispatcher, bench/_stack.py) with a local OpenAI-compatible
server that answers every call after AI_SECONDS. The quiet agency assigns a category to one contact at a time, and
its wait is the time from the assignment to its sequence being stored (`contact/category.assigned` ->
`nurture/sequence.generate`, one AI call).
Baseline, in the same run: the quiet agency's wait alone (SAMPLES assignments, one after the other, median). Then
SAMPLES rounds: AGENCIES agencies each assign PER_AGENCY contacts at once (as bench/scale.py does), and as soon as
the import's first AI calls are in flight the quiet agency assigns one contact; the next round starts when the
import has drained. Prints both medians and their ratio (aim: 1.2 or less), with the AI calls in flight as each
quiet sample started and the import's sequences still to come as it ended (to show the import was in the way).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from _setup import ROOT, setup_django
from _stack import Stack, ai_env, clear_engine_tables
from scale import make_agencies


def wait_for_sequence(tenant, contact, *, timeout: float = 600) -> float:
    """Assign a category to one contact; seconds until its sequence is stored."""
    from tenants.models import NurtureSequence
    from tenants.services import contact_assign_category

    started = time.perf_counter()
    contact_assign_category(tenant=tenant, contact_id=contact.id, category="landlord", source="api")
    deadline = time.monotonic() + timeout
    while not NurtureSequence.objects.filter(tenant=tenant, contact_id=contact.id).exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"the quiet agency's sequence did not arrive within {timeout} s")
        time.sleep(0.02)
    return time.perf_counter() - started


def _seconds(waits: list[float]) -> str:
    return ", ".join(f"{wait:.2f}" for wait in waits)


def main() -> None:
    agencies_count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    per_agency = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    ai_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
    samples = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    setup_django("quiet")
    sys.path.insert(0, str(ROOT))
    from django.conf import settings

    from jobs.models import EventLog, JobRun
    from jobs.policy import FunctionCategory, policy_for
    from tenants.models import NurtureSequence
    from tenants.services import contact_assign_category
    from tests.fakes.openai_server import FakeOpenAI

    ai = FakeOpenAI(delay=ai_seconds).start()
    clear_engine_tables()
    EventLog.objects.all().delete()
    JobRun.objects.all().delete()
    ((quiet, quiet_contacts),) = make_agencies(1, 2 * samples + 1, prefix="quiet")
    agencies = make_agencies(agencies_count, per_agency * samples)
    importers = [tenant for tenant, _ in agencies]
    lanes = agencies_count * min(policy_for(FunctionCategory.AI).tenant_concurrency, per_agency)
    stack = Stack(
        "quiet",
        settings.ENGINE_WORKERS,
        synced_function="nurturehub-nurture-sequence-generate",
        log_level="ERROR",
        extra_env=ai_env(ai, timeout=max(60.0, ai_seconds * 6)),
    )
    settings.INNGEST_BASE_URL = stack.url
    stack.start()
    loaded, in_flight, still_to_come = [], [], []
    try:
        wait_for_sequence(quiet, quiet_contacts[0])  # first run of fresh processes: not counted
        alone = [wait_for_sequence(quiet, contact) for contact in quiet_contacts[1 : samples + 1]]
        for round_number, contact in enumerate(quiet_contacts[samples + 1 :]):
            imported = range(round_number * per_agency, (round_number + 1) * per_agency)
            for position in imported:  # interleaved, as bench/scale.py
                for tenant, contacts in agencies:
                    contact_assign_category(
                        tenant=tenant, contact_id=contacts[position].id, category="landlord", source="api"
                    )
            deadline = time.monotonic() + 600
            while not ai.in_flight and time.monotonic() < deadline:  # the import is under way
                time.sleep(0.05)
            in_flight.append(ai.in_flight)
            loaded.append(wait_for_sequence(quiet, contact))
            expected = agencies_count * per_agency * (round_number + 1)
            still_to_come.append(expected - NurtureSequence.objects.filter(tenant__in=importers).count())
            while NurtureSequence.objects.filter(tenant__in=importers).count() < expected:  # drained: next round
                if time.monotonic() > deadline:
                    raise SystemExit("the import did not finish in time")
                time.sleep(0.2)
    finally:
        stack.stop()
        ai.stop()

    alone_median, loaded_median = statistics.median(alone), statistics.median(loaded)
    print(f"quiet agency: 1 assignment at a time, while {agencies_count} agencies x {per_agency} assignments run")
    print(f"  AI answers after           {ai_seconds:8.1f} s")
    print(f"  wait alone (baseline)      {alone_median:8.2f} s median of {samples}: {_seconds(alone)}")
    print(f"  wait during the import     {loaded_median:8.2f} s median of {samples}: {_seconds(loaded)}")
    print(f"  ratio                      {loaded_median / alone_median:8.2f}   (aim: 1.2 or less)")
    print(f"  import in the way          AI calls in flight as each sample started: {in_flight} of {lanes} allowed;")
    print(f"                             its sequences still to come as each sample ended: {still_to_come}")
    print(f"  machine load (1 min avg)   {os.getloadavg()[0]:8.2f}   on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
