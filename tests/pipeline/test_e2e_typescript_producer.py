"""A TypeScript producer through the local engine: the corpus's good payloads, validated by the generated Zod
module and sent with Inngest's TypeScript SDK (contracts/send-corpus.mjs, node), start the Python functions,
which validate them again with the pydantic catalogue (after upcasting from their `v`)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from jobs.contract import CONTRACT_DIR, ensure_node_packages
from jobs.engine.models import Run
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.urls("tests.pipeline.urls"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("contracts"),  # shares contracts/node_modules with tests/contracts
]

GOOD = [
    case
    for case in json.loads((CONTRACT_DIR / "corpus" / "cases.json").read_text())["cases"]
    if case["valid"] and "python" not in case
]


def test_the_good_corpus_sent_from_typescript_runs_the_python_functions(
    engine, live_server, tenant, make_contact, template_writer
):
    contacts = ",".join(str(make_contact(tenant=tenant).id) for _ in GOOD)
    ensure_node_packages()

    done = subprocess.run(  # noqa: S603 (fixed command)
        [shutil.which("node") or "node", "send-corpus.mjs", live_server.url, str(tenant.id), contacts],
        cwd=CONTRACT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    sent = json.loads(done.stdout)
    assert sorted(sent) == sorted(case["id"] for case in GOOD)

    def runs() -> list[Run]:
        return list(Run.objects.filter(event__internal_id__in=sent.values()).select_related("function", "event"))

    # Every good payload starts its event's function; wait until each of those runs has ended.
    def all_ended() -> bool:
        found = runs()
        return len({run.event.internal_id for run in found}) == len(sent) and all(
            run.status in ("completed", "failed") for run in found
        )

    try:
        wait_for(all_ended, timeout=120, message="the runs of the TypeScript producer's events")
    except AssertionError:
        raise AssertionError([(r.function.slug, r.status, r.event.name, r.error) for r in runs()]) from None
    by_case = {
        case_id: [run for run in runs() if run.event.internal_id == event_id] for case_id, event_id in sent.items()
    }
    for case in GOOD:
        (run,) = by_case[case["id"]]  # one run per event: each case has its own contact and assignment
        assert run.event.name == case["event"] and run.events[0]["v"] == "1", case["id"]
        assert run.status == "completed", (case["id"], run.function.slug, run.error)
