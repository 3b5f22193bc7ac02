"""Both languages agree: the corpus (contracts/corpus/cases.json) gets the same verdicts from the pydantic
catalogue as from the generated Zod schemas, naming the same wire fields; the node half runs here too."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from pydantic import ValidationError

from jobs.contract import CONTRACT_DIR, ensure_node_packages
from jobs.events import CATALOGUE, event_type

CASES = json.loads((CONTRACT_DIR / "corpus" / "cases.json").read_text())["cases"]

pytestmark = pytest.mark.xdist_group("contracts")


def _python_verdict(event: str, payload: dict) -> dict:
    try:
        event_type(event).model_validate(payload)
    except ValidationError as error:
        fields = {str(e["loc"][0]) if e["loc"] else "(payload)" for e in error.errors()}
        return {"valid": False, "fields": sorted(fields)}
    return {"valid": True}


def _expected(case: dict) -> dict:
    verdict = case.get("python", case)
    return {"valid": True} if verdict["valid"] else {"valid": False, "fields": verdict["fields"]}


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_the_catalogue_gives_the_corpus_verdict(case):
    assert _python_verdict(case["event"], case["payload"]) == _expected(case)


def test_the_generated_zod_schemas_give_the_corpus_verdicts():
    ensure_node_packages()
    done = subprocess.run(  # noqa: S603 (fixed command)
        [shutil.which("node") or "node", "--test", "--test-reporter=dot", "corpus.test.mjs"],
        cwd=CONTRACT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_the_corpus_covers_every_event_both_ways():
    for name in CATALOGUE:
        verdicts = [case["valid"] for case in CASES if case["event"] == name and "python" not in case]
        assert verdicts.count(True) >= 1 and verdicts.count(False) >= 2, name


def test_every_difference_between_the_languages_says_why():
    for case in (case for case in CASES if "python" in case):
        assert case["python"]["why"].strip(), case["id"]
        assert case["python"]["valid"] != case["valid"], case["id"]
