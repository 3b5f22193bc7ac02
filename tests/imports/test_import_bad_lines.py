"""No bad line aborts an import: each is reported on its true line with why, and every good line goes in.

The broken line sits after several whole batches (as line 50,001 of a 60,000-row file did): the old reader gave
up there and lost the good rows after it, or named a line far away.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from tenants.models import Contact

pytestmark = pytest.mark.django_db(transaction=True)

HEADER = b"email,first name,last name\n"


def good_line(number: int) -> bytes:
    return f"row{number}@example.co.uk,First{number},Last{number}\n".encode()


def import_file(tmp_path, tenant, content: bytes, *extra: str) -> tuple[str, list[str]]:
    path = tmp_path / "contacts.csv"
    path.write_bytes(content)
    out, err = io.StringIO(), io.StringIO()
    call_command("import_contacts", str(path), "--tenant", tenant.slug, "--no-progress", *extra, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue().splitlines()


BROKEN = {
    "nul": (b"nul@example.co.uk,Fi\x00rst,Last\n", "contains a NUL character"),
    "latin-1": ("zo\u00eb@example.co.uk,Zo\u00eb,Last\n".encode("latin-1"), "not UTF-8 (byte 0xEB"),
    "unterminated-quote": (b'quote@example.co.uk,"First,Last\n', "a quote opened on this line is not closed"),
    "text-after-a-closing-quote": (b'quote@example.co.uk,"First"x,Last\n', "broken quoting"),
    "oversized-field": (b"big@example.co.uk," + b"x" * 1_000_000 + b",Last\n", "longer than 64 KB"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_line_after_several_batches_costs_that_line_only(tmp_path, tenant, event_api, kind):
    bad, reason = BROKEN[kind]
    rows = [good_line(number) for number in range(1, 3001)]
    rows.insert(2000, bad)  # data row 2,001: file line 2,002 (line 1 is the header)

    out, errors = import_file(tmp_path, tenant, HEADER + b"".join(rows), "--batch-size", "500")

    assert len(errors) == 1 and errors[0].startswith("line 2002: ") and reason in errors[0], errors
    assert "3001 rows: 3000 created, 0 updated, 0 unchanged, 1 rejected" in out
    assert Contact.objects.filter(tenant=tenant).count() == 3000


def test_a_latin_1_byte_on_line_2_is_reported_on_line_2(tmp_path, tenant, event_api):
    content = HEADER + "zo\u00eb@example.co.uk,Zo\u00eb,X\n".encode("latin-1") + good_line(3)
    _, errors = import_file(tmp_path, tenant, content)
    assert [error.split(":")[0] for error in errors] == ["line 2"]
    assert list(Contact.objects.values_list("email", flat=True)) == ["row3@example.co.uk"]


def test_a_one_megabyte_field_on_line_3_leaves_the_other_rows_in(tmp_path, tenant, event_api):
    content = HEADER + good_line(2) + b"big@example.co.uk,First," + b"y" * 1_048_576 + b"\n" + good_line(4)
    _, errors = import_file(tmp_path, tenant, content)
    assert errors == ["line 3: longer than 64 KB (an oversized field): row skipped"]
    assert set(Contact.objects.values_list("email", flat=True)) == {"row2@example.co.uk", "row4@example.co.uk"}


def test_a_duplicate_in_a_later_batch_is_reported_and_does_not_overwrite(tmp_path, tenant, event_api):
    rows = [good_line(number) for number in range(2, 12)]
    rows.append(b"ROW2@example.co.uk,Someone,Else\n")  # line 12, three batches after line 2

    out, errors = import_file(tmp_path, tenant, HEADER + b"".join(rows), "--batch-size", "3")

    assert errors == ["line 12: duplicate email 'ROW2@example.co.uk' (also on line 2)"]
    assert Contact.objects.get(email__iexact="row2@example.co.uk").first_name == "First2"
    assert "11 rows: 10 created, 0 updated, 0 unchanged, 1 rejected" in out


def test_a_multi_line_address_is_one_row_and_the_line_numbers_after_it_stay_true(tmp_path, tenant, event_api):
    content = (
        b"email,first name,last name,address\n"
        b'a@example.co.uk,A,B,"1 Harbour Row\nBristol\nBS1 1AA"\n'
        b"not-an-email,C,D,\n"
    )
    _, errors = import_file(tmp_path, tenant, content)
    assert errors == ["line 5: email 'not-an-email' is not a valid address"]
    assert Contact.objects.get().address == "1 Harbour Row\nBristol\nBS1 1AA"


@pytest.mark.parametrize(
    "header",
    [b"email,first \xe9name,last name\n", b'email,"first name,last name\n', b"email,first\x00name,last name\n"],
    ids=["latin-1", "unterminated-quote", "nul"],
)
def test_only_an_unreadable_header_stops_the_file(tmp_path, tenant, header):
    with pytest.raises(CommandError, match="line 1: the header cannot be read"):
        import_file(tmp_path, tenant, header + good_line(2))
    assert not Contact.objects.exists()
