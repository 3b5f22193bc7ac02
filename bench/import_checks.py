"""What the import's per-line checks cost: the line-by-line reader and the file-wide duplicate check.

Same-run baselines, best of 3, interleaved (a shared machine disturbs every figure alike):
- reading 100,000 rows with `tenants.csv_reader.read_rows` (bytes, each line decoded and checked on its own)
  against Python's csv reader over the whole text stream (the reader before: one bad byte stopped the file);
- re-importing 20,000 unchanged rows with the duplicate check (a temporary table of first lines, one INSERT
  per batch) against the same import with the check replaced by a no-op.
Run: `.venv/bin/python bench/import_checks.py`.
"""

from __future__ import annotations

import csv
import importlib
import tempfile
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from _setup import best_of, setup_django

write_csv = importlib.import_module("import").write_csv  # bench/import.py's file: the same rows


def main() -> None:
    setup_django("import_checks")
    from tenants import imports
    from tenants.csv_reader import open_csv, read_rows
    from tenants.models import Contact, Tenant

    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "100k.csv", Path(tmp) / "20k.csv"
        write_csv(big, 100_000)
        write_csv(small, 20_000)

        def text_reader() -> None:
            with big.open(encoding="utf-8-sig", newline="") as stream:
                for _ in csv.reader(stream):
                    pass

        def line_reader() -> None:
            with open_csv(str(big)) as stream:
                for _ in read_rows(stream):
                    pass

        base, ours = best_of(3, text_reader), best_of(3, line_reader)
        print(
            f"read 100,000 rows: csv over the text {100_000 / base:,.0f} rows/s; line by line "
            f"{100_000 / ours:,.0f} rows/s; time ratio (line by line / csv) {ours / base:.1f}"
        )

        Contact.objects.filter(tenant__slug="bench-import-checks").delete()
        tenant, _ = Tenant.objects.get_or_create(
            slug="bench-import-checks", defaults={"name": "bench", "brand_voice": "Plain."}
        )
        with mock.patch("tenants.imports.emit_many"), open_csv(str(small)) as stream:
            imports.contacts_import(tenant=tenant, stream=stream)  # the first import: every row created

        class NoCheck:
            def __enter__(self) -> NoCheck:
                return self

            def __exit__(self, *exc: object) -> None:
                return None

            def claim(self, batch: object) -> None:
                return None

        @contextmanager
        def without_check():
            with mock.patch.object(imports, "_FirstLines", NoCheck):
                yield

        def rerun(check: bool) -> None:
            with open_csv(str(small)) as stream:
                if check:
                    imports.contacts_import(tenant=tenant, stream=stream)
                else:
                    with without_check():
                        imports.contacts_import(tenant=tenant, stream=stream)

        timings = {True: [], False: []}
        for _ in range(3):
            for check in (False, True):
                timings[check].append(best_of(1, lambda check=check: rerun(check)))
        plain, checked = min(timings[False]), min(timings[True])
        print(
            f"re-import 20,000 unchanged rows: without the duplicate check {20_000 / plain:,.0f} rows/s; with it "
            f"{20_000 / checked:,.0f} rows/s; time ratio (with / without) {checked / plain:.2f}"
        )
        Contact.objects.filter(tenant=tenant).delete()


if __name__ == "__main__":
    main()
