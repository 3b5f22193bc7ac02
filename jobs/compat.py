"""`manage.py events check-compat`: is the catalogue's contract compatible with an earlier one?

Each event's payload schema is compared field by field with the earlier contract's. A change that makes a payload
the earlier contract accepted fail now is **breaking**: a field removed or renamed, a type narrowed (a type, a
format, a bound or the extra-field rule tightened), a new required field without a default, an enum value removed,
a pattern added or changed (two regexes cannot be compared, so any change counts). Breaking changes fail the check
unless the event's version was bumped, which the catalogue allows only with an upcaster from each older version.
A change that accepts more (a new optional field, an enum value added, a type widened, a new event) is **additive**:
a warning, since a consumer may still need to learn it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .contract import event_schema
from .events import CATALOGUE, Event

ROOT = Path(__file__).resolve().parents[1]
CONTRACT_EVENTS = "contracts/events"
GIT = shutil.which("git") or "git"

# Bounds that reject more when raised / when lowered.
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems")


@dataclass(frozen=True)
class Finding:
    event: str
    breaking: bool
    message: str

    def __str__(self) -> str:
        return f"{self.event}: {self.message}"


class CompatError(RuntimeError):
    """The earlier contract could not be read (an unknown git ref, an unreadable schema file)."""


# --- Reading contracts --------------------------------------------------------------------------------------


def current_contract(catalogue: dict[str, type[Event]] | None = None) -> dict[str, dict[str, Any]]:
    catalogue = CATALOGUE if catalogue is None else catalogue
    return {name: event_schema(cls) for name, cls in catalogue.items()}


def contract_from_dir(directory: Path) -> dict[str, dict[str, Any]]:
    """The schemas under `<directory>/events` (a contract directory) or `<directory>` itself, by event name."""
    root = directory / "events" if (directory / "events").is_dir() else directory
    schemas = {}
    for path in sorted(root.rglob("*.schema.json")):
        try:
            schema = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise CompatError(f"{path}: not a readable JSON schema ({error})") from None
        schemas[schema.get("x-event-name") or path.name.removesuffix(".schema.json")] = schema
    return schemas


def contract_from_git(ref: str, *, repo: Path = ROOT) -> dict[str, dict[str, Any]] | None:
    """The contract committed at `ref`; None when that commit has no contract yet (before it existed)."""

    def git(*args: str) -> str:
        done = subprocess.run(  # noqa: S603 (git with arguments, no shell)
            [GIT, "-C", str(repo), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise CompatError(f"git {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    try:
        commit = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except CompatError:
        raise CompatError(
            f"{ref!r} is not a commit in {repo} (a shallow clone may need `git fetch --deepen`)"
        ) from None
    paths = [p for p in git("ls-tree", "-r", "--name-only", commit, "--", CONTRACT_EVENTS).splitlines() if p]
    schemas = {}
    for path in (p for p in paths if p.endswith(".schema.json")):
        schema = json.loads(git("show", f"{commit}:{path}"))
        schemas[schema.get("x-event-name") or path] = schema
    return schemas or None


# --- Comparing ------------------------------------------------------------------------------------------------


def _resolve(schema: Any, root: dict[str, Any]) -> Any:
    """The schema with its local `#/$defs/...` references replaced by what they point at (pydantic's only kind)."""
    if isinstance(schema, dict):
        if "$ref" in schema and schema["$ref"].startswith("#/"):
            target: Any = root
            for part in schema["$ref"][2:].split("/"):
                target = target[part]
            return _resolve({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, root)
        return {key: _resolve(value, root) for key, value in schema.items() if key != "$defs"}
    if isinstance(schema, list):
        return [_resolve(item, root) for item in schema]
    return schema


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives a field accepts: its anyOf/oneOf branches, or itself."""
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    return [b for alt in alternatives for b in _branches(alt)] if alternatives else [schema]


def _types(branch: dict[str, Any]) -> set[str]:
    if "type" in branch:
        return set(branch["type"]) if isinstance(branch["type"], list) else {branch["type"]}
    values = branch.get("enum", [branch["const"]] if "const" in branch else None)
    if values is None:
        return {"any"}
    names = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}
    return {names.get(type(value), "object") for value in values}


def _covers(new_types: set[str], old_type: str) -> bool:
    return "any" in new_types or old_type in new_types or (old_type == "integer" and "number" in new_types)


def _enum(branches: list[dict[str, Any]]) -> set[Any] | None:
    """The values allowed by enums/consts, or None when some branch allows any value of its type."""
    values: set[Any] = set()
    for branch in branches:
        if branch.get("type") == "null" or _types(branch) == {"null"}:
            continue
        if "enum" in branch:
            values.update(branch["enum"])
        elif "const" in branch:
            values.add(branch["const"])
        else:
            return None
    return values


def _field_changes(field: str, old: dict[str, Any], new: dict[str, Any]) -> list[tuple[bool, str]]:
    changes: list[tuple[bool, str]] = []
    old_branches, new_branches = _branches(old), _branches(new)
    old_types = set().union(*map(_types, old_branches))
    new_types = set().union(*map(_types, new_branches))
    lost = sorted(t for t in old_types if not _covers(new_types, t))
    if lost:
        changes.append((True, f"field `{field}`: type narrowed, no longer accepts {', '.join(lost)}"))
    elif any(not _covers(old_types, t) for t in new_types):
        changes.append((False, f"field `{field}`: type widened to {', '.join(sorted(new_types))}"))
    old_enum, new_enum = _enum(old_branches), _enum(new_branches)
    if new_enum is not None and old_enum is None and not lost:
        changes.append((True, f"field `{field}`: narrowed to the values {sorted(new_enum, key=str)}"))
    elif old_enum is not None and new_enum is not None:
        if removed := old_enum - new_enum:
            changes.append((True, f"field `{field}`: enum value(s) {sorted(removed, key=str)} removed"))
        if added := new_enum - old_enum:
            changes.append((False, f"field `{field}`: enum value(s) {sorted(added, key=str)} added"))
    changes.extend(_constraint_changes(field, old_branches, new_branches))
    return changes


def _by_type(branches: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t: branch for branch in branches for t in _types(branch)}


def _constraint_changes(field: str, old_branches: list, new_branches: list) -> list[tuple[bool, str]]:
    """Pattern, format and bound changes between the branches of the same type."""
    changes: list[tuple[bool, str]] = []
    new_by_type = _by_type(new_branches)
    for kind, old in _by_type(old_branches).items():
        new = new_by_type.get(kind) or new_by_type.get("number" if kind == "integer" else kind)
        if new is None:
            continue
        if new.get("pattern") and new.get("pattern") != old.get("pattern"):
            was = f"from {old['pattern']!r} " if old.get("pattern") else ""
            changes.append((True, f"field `{field}`: pattern tightened {was}to {new['pattern']!r}"))
        elif old.get("pattern") and not new.get("pattern"):
            changes.append((False, f"field `{field}`: pattern {old['pattern']!r} dropped"))
        if new.get("format") and new.get("format") != old.get("format"):
            changes.append((True, f"field `{field}`: type narrowed to format {new['format']!r}"))
        for bound in _LOWER_BOUNDS + _UPPER_BOUNDS:
            before, after = old.get(bound), new.get(bound)
            if after is None or before == after:
                continue
            tighter = before is None or (after > before if bound in _LOWER_BOUNDS else after < before)
            if tighter:
                changes.append((True, f"field `{field}`: type narrowed, {bound} {before} -> {after}"))
    return changes


def _version(schema: dict[str, Any]) -> int:
    return int(schema.get("x-event-version", 1))  # contracts written before versions were all version 1


def compare_event(name: str, old: dict[str, Any], new: dict[str, Any]) -> list[Finding]:
    old, new = _resolve(old, old), _resolve(new, new)
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    changes: list[tuple[bool, str]] = []
    for field in sorted(set(old_props) - set(new_props)):
        changes.append((True, f"field `{field}` removed or renamed"))
    for field in sorted(set(new_props) - set(old_props)):
        if field in new_required:
            changes.append((True, f"field `{field}` added as required, without a default"))
        else:
            changes.append((False, f"field `{field}` added (optional)"))
    for field in sorted(set(old_props) & set(new_props)):
        if field in new_required and field not in old_required:
            changes.append((True, f"field `{field}` became required"))
        changes.extend(_field_changes(field, old_props[field], new_props[field]))
    if old.get("additionalProperties", True) is not False and new.get("additionalProperties", True) is False:
        changes.append((True, "unknown fields are now refused"))
    old_version, new_version = _version(old), _version(new)
    if new_version < old_version:
        return [Finding(name, True, f"version went down from {old_version} to {new_version}")]
    if new_version > old_version:
        bumped = f"allowed by the version bump {old_version} -> {new_version} (with upcasters)"
        return [Finding(name, False, f"{message}: {bumped}" if breaking else message) for breaking, message in changes]
    return [Finding(name, breaking, message) for breaking, message in changes]


def compare(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> list[Finding]:
    findings = [Finding(name, True, "event removed from the catalogue") for name in sorted(set(old) - set(new))]
    findings += [Finding(name, False, "new event") for name in sorted(set(new) - set(old))]
    for name in sorted(set(old) & set(new)):
        findings += compare_event(name, old[name], new[name])
    return findings
