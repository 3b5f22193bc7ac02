"""`events check-compat`: one test per kind of breaking change, the version bump that allows it, additive
changes as warnings, and the command against a contract directory and against git refs."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Annotated, ClassVar, Literal

import pytest
from django.core.management import CommandError, call_command
from pydantic import Field

from jobs.compat import compare, compare_event
from jobs.contract import CONTRACT_DIR, event_schema, schema_path
from jobs.events import CATALOGUE, Event

NAME = "shop/order.placed"


def _schema(version: int = 1, upcasters: dict | None = None, **fields) -> dict:
    """The contract schema of a scratch event with these fields (`name=(annotation, default)` or annotation)."""
    CATALOGUE.pop(NAME, None)
    annotations = {"name": ClassVar[str]}
    namespace: dict = {"name": NAME, "version": version, "upcasters": upcasters or {}}
    for field, spec in fields.items():
        annotation, *default = spec if isinstance(spec, tuple) else (spec,)
        annotations[field] = annotation
        if default:
            namespace[field] = default[0]
    cls = type("OrderPlaced", (Event,), {"__annotations__": annotations, **namespace})
    try:
        return event_schema(cls)
    finally:
        CATALOGUE.pop(NAME, None)


def _findings(old: dict, new: dict) -> list[tuple[bool, str]]:
    return [(finding.breaking, finding.message) for finding in compare_event(NAME, old, new)]


@pytest.fixture(autouse=True)
def _scratch(scratch_catalogue):
    return scratch_catalogue


def test_a_removed_field_is_breaking():
    old = _schema(order_ref=str, note=(str | None, None))
    assert _findings(old, _schema(order_ref=str)) == [(True, "field `note` removed or renamed")]


def test_a_renamed_field_is_breaking_both_ways():
    old = _schema(order_ref=str)
    assert _findings(old, _schema(order_reference=str)) == [
        (True, "field `orderRef` removed or renamed"),
        (True, "field `orderReference` added as required, without a default"),
    ]


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        (str | int, str, "field `amount`: type narrowed, no longer accepts integer"),
        (float, int, "field `amount`: type narrowed, no longer accepts number"),
        (str, Annotated[str, Field(max_length=10)], "field `amount`: type narrowed, maxLength None -> 10"),
        (
            Annotated[int, Field(le=100)],
            Annotated[int, Field(le=50)],
            "field `amount`: type narrowed, maximum 100 -> 50",
        ),
        (str, Literal["small", "large"], "field `amount`: narrowed to the values ['large', 'small']"),
        (int | None, int, "field `amount`: type narrowed, no longer accepts null"),
    ],
    ids=["union-to-one", "number-to-integer", "length-bound-added", "maximum-lowered", "free-text-to-enum", "null"],
)
def test_a_narrowed_type_is_breaking(before, after, message):
    assert _findings(_schema(amount=before), _schema(amount=after)) == [(True, message)]


def test_a_new_required_field_without_default_is_breaking_and_with_a_default_additive():
    old = _schema(order_ref=str)
    assert _findings(old, _schema(order_ref=str, channel=str)) == [
        (True, "field `channel` added as required, without a default")
    ]
    assert _findings(old, _schema(order_ref=str, channel=(str, "web"))) == [(False, "field `channel` added (optional)")]


def test_an_optional_field_made_required_is_breaking():
    old = _schema(channel=(str, "web"))
    assert _findings(old, _schema(channel=str)) == [(True, "field `channel` became required")]


def test_a_removed_enum_value_is_breaking_and_an_added_one_additive():
    old = _schema(size=Literal["small", "medium", "large"])
    assert _findings(old, _schema(size=Literal["small", "large"])) == [
        (True, "field `size`: enum value(s) ['medium'] removed")
    ]
    assert _findings(old, _schema(size=Literal["small", "medium", "large", "huge"])) == [
        (False, "field `size`: enum value(s) ['huge'] added")
    ]


def test_a_pattern_added_or_changed_is_breaking_and_dropped_additive():
    free, ref, strict_ref = (
        str,
        Annotated[str, Field(pattern=r"^ORD-\d+$")],
        Annotated[str, Field(pattern=r"^ORD-\d{6}$")],
    )
    assert _findings(_schema(order_ref=free), _schema(order_ref=ref)) == [
        (True, "field `orderRef`: pattern tightened to '^ORD-\\\\d+$'")
    ]
    assert _findings(_schema(order_ref=ref), _schema(order_ref=strict_ref)) == [
        (True, "field `orderRef`: pattern tightened from '^ORD-\\\\d+$' to '^ORD-\\\\d{6}$'")
    ]
    assert _findings(_schema(order_ref=ref), _schema(order_ref=free)) == [
        (False, "field `orderRef`: pattern '^ORD-\\\\d+$' dropped")
    ]


def test_a_version_bump_with_an_upcaster_turns_a_breaking_change_into_a_warning():
    old = _schema(order_ref=str, note=(str | None, None))
    new = _schema(
        version=2, upcasters={1: lambda payload: {k: v for k, v in payload.items() if k != "note"}}, order_ref=str
    )
    assert _findings(old, new) == [
        (False, "field `note` removed or renamed: allowed by the version bump 1 -> 2 (with upcasters)")
    ]
    assert _findings(new, _schema(order_ref=str)) == [(True, "version went down from 2 to 1")]


def test_widening_and_unchanged_fields_are_not_breaking():
    old = _schema(amount=int, size=Literal["s"], note=(str | None, None))
    assert _findings(old, old) == []
    assert _findings(old, _schema(amount=float, size=Literal["s"], note=(str | None, None))) == [
        (False, "field `amount`: type widened to number")
    ]


def test_a_removed_event_is_breaking_and_a_new_one_additive():
    schema = _schema(order_ref=str)
    findings = compare({NAME: schema}, {"shop/order.shipped": schema})
    assert [(f.event, f.breaking, f.message) for f in findings] == [
        (NAME, True, "event removed from the catalogue"),
        ("shop/order.shipped", False, "new event"),
    ]


# --- The command --------------------------------------------------------------------------------------------


def _earlier_contract(tmp_path, edit=None):
    """A copy of the committed contract, optionally as it was before an edit (`edit(schema)` changes it)."""
    shutil.copytree(CONTRACT_DIR / "events", tmp_path / "events")
    if edit:
        path = tmp_path / schema_path("lead/intent.score")
        schema = json.loads(path.read_text())
        edit(schema)
        path.write_text(json.dumps(schema))
    return tmp_path


def test_the_committed_contract_is_compatible_with_the_catalogue(capsys):
    call_command("events", "check-compat", "--against", str(CONTRACT_DIR))
    assert "compatible with" in capsys.readouterr().out


def test_the_command_fails_naming_each_breaking_change(tmp_path, capsys):
    def earlier_had_more(schema):
        schema["properties"]["reason"]["enum"].append("manual")
        schema["properties"]["source"] = {"type": "string"}

    with pytest.raises(CommandError, match="2 breaking change"):
        call_command("events", "check-compat", "--against", str(_earlier_contract(tmp_path, earlier_had_more)))
    out = capsys.readouterr().out
    assert "BREAKING  lead/intent.score: field `reason`: enum value(s) ['manual'] removed" in out
    assert "BREAKING  lead/intent.score: field `source` removed or renamed" in out


def test_the_command_warns_on_additive_changes_and_passes(tmp_path, capsys):
    def earlier_had_less(schema):
        del schema["properties"]["engagementEventId"]

    call_command("events", "check-compat", "--against", str(_earlier_contract(tmp_path, earlier_had_less)))
    out = capsys.readouterr().out
    assert "additive  lead/intent.score: field `engagementEventId` added (optional)" in out
    assert "compatible with" in out


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)  # noqa: S603, S607


def test_the_command_against_git_refs_first_commit_and_unknown_ref(tmp_path, capsys):
    repo = tmp_path / "repo"
    (repo / "contracts").mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / "README").write_text("before the contract\n")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    _earlier_contract(repo / "contracts", lambda schema: schema["properties"].pop("occurredAt"))
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "contract")

    call_command("events", "check-compat", "--against", "HEAD~1", "--repo", str(repo))
    assert "no event contract at HEAD~1" in capsys.readouterr().out
    with pytest.raises(CommandError, match="1 breaking change"):  # that contract lacked a field now required
        call_command("events", "check-compat", "--against", "HEAD", "--repo", str(repo))
    assert "field `occurredAt` added as required, without a default" in capsys.readouterr().out
    with pytest.raises(CommandError, match="not a commit"):
        call_command("events", "check-compat", "--against", "HEAD~5", "--repo", str(repo))


def test_an_unreadable_earlier_contract_is_a_clear_error(tmp_path):
    (tmp_path / "events" / "lead").mkdir(parents=True)
    (tmp_path / "events" / "lead" / "intent.score.schema.json").write_text("{not json")
    with pytest.raises(CommandError, match=r"intent.score.schema.json: not a readable JSON schema"):
        call_command("events", "check-compat", "--against", str(tmp_path))
