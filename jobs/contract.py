"""The event contract other producers build on, generated from the catalogue (`manage.py events contract`).

`contracts/events/<domain>/<action>.schema.json` holds each event's payload as JSON Schema 2020-12 with its wire
(camelCase) names; `contracts/ts/events.ts` holds a Zod schema and an inferred TypeScript type per event, made from
those files by `contracts/generate.mjs` with the npm packages pinned in `contracts/package.json`. Nothing in
`contracts/` is written by hand except the generator and the corpus; a test regenerates and diffs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .events import CATALOGUE, Event

CONTRACT_DIR = Path(__file__).resolve().parents[1] / "contracts"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
TS_MODULE = Path("ts") / "events.ts"


class ContractError(RuntimeError):
    """The contract could not be generated (node or its packages missing, the generator failed)."""


def schema_path(name: str) -> Path:
    """Where an event's schema lives inside a contract directory: `events/<domain>/<action>.schema.json`."""
    domain, action = name.split("/")
    return Path("events") / domain / f"{action}.schema.json"


def event_schema(cls: type[Event]) -> dict[str, Any]:
    """The event's payload as a standalone JSON Schema 2020-12 document, fields by their wire names."""
    schema = cls.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"urn:nurturehub:event:{cls.name}",
        "x-event-name": cls.name,
        "x-event-version": cls.version,
        **schema,
    }


def render(schema: dict[str, Any]) -> str:
    """One stable text per schema (sorted keys, 2-space indent, final newline) so the diff check is exact."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas(out_dir: Path, catalogue: dict[str, type[Event]] | None = None) -> list[Path]:
    """Write every event's schema under `out_dir/events/`, replacing what was there; returns the files written."""
    catalogue = CATALOGUE if catalogue is None else catalogue
    events_dir = out_dir / "events"
    if events_dir.exists():
        shutil.rmtree(events_dir)
    written = []
    for name in sorted(catalogue):
        path = out_dir / schema_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(event_schema(catalogue[name])))
        written.append(path)
    return written


def ensure_node_packages(package_dir: Path = CONTRACT_DIR) -> None:
    """`npm ci` in `contracts/` when its node_modules is missing or older than the lock file (idempotent)."""
    lock = package_dir / "package-lock.json"
    stamp = package_dir / "node_modules" / ".lock-copy"
    if stamp.is_file() and stamp.read_bytes() == lock.read_bytes():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise ContractError("npm is not installed; .ci/run installs nodejs and npm")
    done = subprocess.run(  # noqa: S603 (fixed command)
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=package_dir, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise ContractError(f"npm ci in {package_dir} failed:\n{done.stderr}")
    shutil.copyfile(lock, stamp)


def write_typescript(out_dir: Path) -> Path:
    """Generate `out_dir/ts/events.ts` from the schemas under `out_dir/events/` with contracts/generate.mjs."""
    ensure_node_packages()
    node = shutil.which("node")
    if node is None:
        raise ContractError("node is not installed; .ci/run installs nodejs and npm")
    done = subprocess.run(  # noqa: S603 (fixed command)
        [node, str(CONTRACT_DIR / "generate.mjs"), str(out_dir.resolve())],
        cwd=CONTRACT_DIR,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise ContractError(f"contracts/generate.mjs failed:\n{done.stderr}")
    return out_dir / TS_MODULE


def write_contract(out_dir: Path = CONTRACT_DIR) -> list[Path]:
    """The whole contract: the JSON Schemas, then the TypeScript module made from them."""
    schemas = write_schemas(out_dir)
    return [*schemas, write_typescript(out_dir)]
