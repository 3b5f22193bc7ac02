"""The committed contract (contracts/events, contracts/ts) is exactly what the catalogue generates today."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command

from jobs.contract import CONTRACT_DIR, ensure_node_packages

GENERATED = ("events", "ts")

# One worker runs the tests that share contracts/node_modules (npm ci must not run twice at once).
pytestmark = pytest.mark.xdist_group("contracts")


def _files(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): path.read_text()
        for part in GENERATED
        for path in sorted((root / part).rglob("*"))
        if path.is_file()
    }


def test_committed_contract_matches_the_catalogue(tmp_path):
    call_command("events", "contract", "--out", str(tmp_path))
    generated, committed = _files(tmp_path), _files(CONTRACT_DIR)
    assert generated, "the generator wrote nothing"
    missing = sorted(set(generated) - set(committed))
    stale = sorted(set(committed) - set(generated))
    changed = sorted(name for name in set(generated) & set(committed) if generated[name] != committed[name])
    assert not (missing or stale or changed), (
        f"contracts/ differs from the catalogue: not committed {missing}, no longer generated {stale}, "
        f"changed {changed}. Run `manage.py events contract` and commit the result."
    )


def test_generated_typescript_type_checks(tmp_path):
    """The committed Zod module compiles under `tsc --strict` with the pinned zod (what a producer imports)."""
    ensure_node_packages()
    tsc = CONTRACT_DIR / "node_modules" / ".bin" / "tsc"
    done = subprocess.run(  # noqa: S603 (fixed command)
        [str(tsc), "-p", str(CONTRACT_DIR)], capture_output=True, text=True, cwd=CONTRACT_DIR
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_catalogue_change_shows_as_drift(tmp_path, monkeypatch):
    """The check can fail: a field the committed schema lacks makes the generated contract differ."""
    from pydantic import create_model

    from jobs import contract
    from jobs.events import CATALOGUE

    original = CATALOGUE["lead/intent.score"]
    changed = create_model("LeadIntentScore", __base__=original, note=(str | None, None))
    monkeypatch.setattr(contract, "CATALOGUE", {**CATALOGUE, "lead/intent.score": changed})
    shutil.copytree(CONTRACT_DIR / "events", tmp_path / "events")
    contract.write_schemas(tmp_path)
    regenerated = (tmp_path / contract.schema_path("lead/intent.score")).read_text()
    assert '"note"' in regenerated
    assert regenerated != (CONTRACT_DIR / contract.schema_path("lead/intent.score")).read_text()
