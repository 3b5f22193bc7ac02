"""`import_contacts`: good, bad and huge files; line numbers; nothing half-written; idempotent and resumable."""

from __future__ import annotations

import csv
import io
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from jobs.models import EventLog
from tenants import imports
from tenants.models import CategoryAssignment, Contact
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)  # batches commit and send their events, as in production

HEADER = ["Email", "First Name", "Last Name", "Phone", "Address", "Category", "Assigned Agent Email"]


def write_csv(tmp_path, rows, header=HEADER, name="contacts.csv"):
    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run(path, tenant, *extra):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_contacts", str(path), "--tenant", tenant.slug, "--no-progress", *extra, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_good_file_creates_contacts_assigns_categories_and_emits_in_batches(tmp_path, tenant, event_api):
    agent = MembershipFactory(tenant=tenant, user__email="sam@agency.example.co.uk").user
    path = write_csv(
        tmp_path,
        [
            [
                "olivia@example.co.uk",
                "Olivia",
                "Hughes",
                "0117 496 0001",
                "1 Harbour Row, Bristol",
                "seller",
                "SAM@agency.example.co.uk",
            ],
            ["george@example.co.uk", "George", "Patel", "", "", "landlord", ""],
            ["isla@example.co.uk", "Isla", "Wright", "", "", "", ""],
        ],
    )

    out, err = run(path, tenant, "--batch-size", "2")

    assert err == ""
    assert "3 rows: 3 created, 0 updated, 0 unchanged, 0 rejected; 2 categories assigned, 2 events emitted" in out
    olivia = Contact.objects.get(tenant=tenant, email="olivia@example.co.uk")
    assert (olivia.category, olivia.assigned_agent_id, olivia.source) == ("seller", agent.pk, "csv-import")
    assert Contact.objects.get(email="isla@example.co.uk").category == ""
    assert sorted(event["data"]["contactId"] for event in event_api.received) == sorted(
        str(c.id) for c in Contact.objects.exclude(category="")
    )
    assert event_api.requests == 1  # both events of the first batch went in one request; the second had none
    sent = event_api.received[0]["data"]
    assert set(sent) == {
        "tenantId",
        "contactId",
        "category",
        "previousCategory",
        "assignmentId",
        "assignedBy",
        "source",
        "assignedAt",
    }
    assert sent["source"] == "csv-import"
    assert CategoryAssignment.objects.filter(tenant=tenant).count() == 2


def test_running_the_same_file_twice_creates_and_emits_nothing_new(tmp_path, tenant, event_api):
    path = write_csv(tmp_path, [[f"c{i}@example.co.uk", "A", f"N{i}", "", "", "buyer", ""] for i in range(5)])
    run(path, tenant)
    out, _ = run(path, tenant)

    assert "5 rows: 0 created, 0 updated, 5 unchanged, 0 rejected; 0 categories assigned, 0 events emitted" in out
    assert Contact.objects.filter(tenant=tenant).count() == 5
    assert len(event_api.received) == 5 and CategoryAssignment.objects.count() == 5


def test_changed_rows_update_and_recategorise(tmp_path, tenant, make_contact, event_api):
    existing = make_contact(tenant=tenant, email="Olivia@Example.co.uk", first_name="Liv", category="buyer")
    path = write_csv(tmp_path, [["olivia@example.co.uk", "Olivia", existing.last_name, "", "", "seller", ""]])

    out, _ = run(path, tenant, "--category", "landlord")

    assert "1 updated" in out and "1 events emitted" in out
    existing.refresh_from_db()
    assert (existing.first_name, existing.category) == ("Olivia", "seller")
    assert event_api.received[0]["data"]["previousCategory"] == "buyer"


def test_default_category_applies_to_rows_without_one(tmp_path, tenant, event_api):
    path = write_csv(tmp_path, [["a@example.co.uk", "A", "B", "", "", "", ""]])
    run(path, tenant, "--category", "vendor")
    assert Contact.objects.get(email="a@example.co.uk").category == "vendor"


def test_bad_rows_are_reported_with_line_numbers_and_skipped(tmp_path, tenant, other_tenant, event_api):
    outsider = MembershipFactory(tenant=other_tenant, user__email="other@agency.example.co.uk").user
    path = tmp_path / "bad.csv"
    path.write_text(
        "email,first name,last name,category,assigned agent email\n"
        "good@example.co.uk,Good,Row,seller,\n"
        "not-an-email,Bad,Email,,\n"
        '"multi@example.co.uk","Multi\nLine",Name,,\n'
        ",No,Email,,\n"
        "cat@example.co.uk,Bad,Category,realtor,\n"
        f"agent@example.co.uk,Bad,Agent,,{outsider.email}\n"
        "good@example.co.uk,Again,Duplicate,seller,\n",
        encoding="utf-8",
    )

    out, err = run(path, tenant)

    assert err.splitlines() == [
        "line 3: email 'not-an-email' is not a valid address",
        "line 6: email is required",
        "line 7: unknown category 'realtor'",
        f"line 8: assigned agent '{outsider.email}' is not a member of this agency",
        "line 9: duplicate email 'good@example.co.uk' (also on line 2)",
    ]
    assert "7 rows: 2 created, 0 updated, 0 unchanged, 5 rejected" in out
    assert set(Contact.objects.values_list("email", flat=True)) == {"good@example.co.uk", "multi@example.co.uk"}


def test_missing_columns_stop_before_anything_is_written(tmp_path, tenant):
    path = write_csv(tmp_path, [["a@example.co.uk", "A"]], header=["email", "first name"])
    with pytest.raises(CommandError, match="missing required column"):
        run(path, tenant)
    assert not Contact.objects.exists()


def test_dry_run_writes_and_emits_nothing(tmp_path, tenant, event_api):
    path = write_csv(tmp_path, [["a@example.co.uk", "A", "B", "", "", "seller", ""]])
    out, _ = run(path, tenant, "--dry-run")
    assert out.startswith("DRY RUN") and "1 created" in out and "1 categories assigned, 0 events emitted" in out
    assert not Contact.objects.exists() and not EventLog.objects.exists() and event_api.received == []


def test_an_interrupted_import_leaves_whole_batches_and_a_rerun_completes_it(tmp_path, tenant, event_api):
    path = write_csv(tmp_path, [[f"r{i}@example.co.uk", "A", "B", "", "", "seller", ""] for i in range(10)])
    real = imports.category_assignments_record
    calls = {"n": 0}

    def crash_on_third_batch(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the operator hits Ctrl-C (or the process dies) mid-batch
        return real(**kwargs)

    with (
        mock.patch.object(imports, "category_assignments_record", crash_on_third_batch),
        pytest.raises(KeyboardInterrupt),
    ):
        run(path, tenant, "--batch-size", "3")
    assert Contact.objects.count() == 6  # batches 1 and 2; batch 3 rolled back whole
    assert Contact.objects.filter(category="seller").count() == 6 and len(event_api.received) == 6

    out, _ = run(path, tenant, "--batch-size", "3")

    assert "4 created" in out and "6 unchanged" in out and "4 events emitted" in out
    assert Contact.objects.filter(category="seller").count() == 10
    assert len(event_api.received) == 10 and len({e["data"]["contactId"] for e in event_api.received}) == 10


def test_unknown_tenant_or_file_is_a_clear_error(tmp_path, tenant):
    with pytest.raises(CommandError, match="no tenant"):
        call_command("import_contacts", "x.csv", "--tenant", "nope")
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_contacts", str(tmp_path / "missing.csv"), "--tenant", tenant.slug)


class CountingFile(io.RawIOBase):
    """The file as the importer's text stream reads it, counting the bytes taken from the disk so far."""

    def __init__(self, path) -> None:
        self.file = open(path, "rb")  # closed with the stream that wraps it
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.file.readinto(buffer)
        self.bytes_read += count
        return count

    def close(self) -> None:
        self.file.close()
        super().close()


def test_huge_file_streams_in_constant_memory(tmp_path, tenant, event_api):
    """20,000 rows in batches of 1,000: each batch is written before the file is read much past it, so what is
    held is one batch, not the file (counted in bytes read, not timed; bench/import.py measures the memory)."""
    path = tmp_path / "huge.csv"
    line_ends = [len("email,first name,last name,category\n")]
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("email,first name,last name,category\n")
        for i in range(20_000):
            line = f"huge{i}@example.co.uk,First{i},Last{i},{'seller' if i % 2 else ''}\n"
            handle.write(line)
            line_ends.append(line_ends[-1] + len(line))
    raw = CountingFile(path)
    read_at_each_batch = []

    def on_batch(summary) -> None:
        read_at_each_batch.append((summary.rows, raw.bytes_read))

    with io.BufferedReader(raw) as stream:  # the importer reads bytes (it reports bad encodings per line)
        summary = imports.contacts_import(tenant=tenant, stream=stream, on_batch=on_batch)

    assert summary.created == 20_000 and summary.events_emitted == 10_000
    assert len(event_api.received) == 10_000
    assert [rows for rows, _ in read_at_each_batch] == [1000] * 20
    read_ahead = 64 * 1024  # the buffer layer reads in chunks of 8 KB: a few of them, never a batch more
    for number, (_, bytes_read) in enumerate(read_at_each_batch, start=1):
        assert bytes_read <= line_ends[number * 1000] + read_ahead, (number, bytes_read)
