"""Bulk import: generate a CSV, import it with `import_contacts`, print rows/s, events/s and peak memory.

Each measurement runs in a fresh child process (so its peak RSS is its own): a 10,000-row and a 100,000-row
import into empty tenants, then the 100,000-row file again (the idempotent re-run). Half of the rows carry a
category, so half of them emit `contact/category.assigned` through `emit_many`, sent over HTTP to a local server
in another process that answers like Inngest's event API. Baselines measured in the same run: reading and
validating the same CSV without the database (rows/s) and the 10,000-row import's peak memory.
Aims: 5,000 rows/s or more; peak memory that does not grow with the file (100k/10k ratio near 1).
Run: `.venv/bin/python bench/import.py`.
"""

from __future__ import annotations

import json
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import ROOT, setup_django

CATEGORIES = ["seller", "landlord", "buyer", "vendor"]


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("email,first name,last name,phone,address,category\n")
        for i in range(rows):
            category = CATEGORIES[(i // 2) % len(CATEGORIES)] if i % 2 else ""  # half the rows carry one
            handle.write(
                f"contact{i:07d}@example.co.uk,First{i},Last{i},0117 496 {i % 10000:04d},"
                f'"{i} Harbour Row, Bristol",{category}\n'
            )


def peak_rss_kb() -> int:
    """This process's own peak RSS (VmHWM). ru_maxrss would be no good: Linux keeps the parent's across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(csv_path: str, slug: str, event_api_port: int) -> None:
    """One import in this process; prints a JSON line with its figures."""
    setup_django("import")
    from django.conf import settings

    from tenants.imports import contacts_import, open_csv
    from tenants.models import Tenant

    settings.INNGEST_BASE_URL = f"http://127.0.0.1:{event_api_port}"
    settings.DEBUG = False  # as in production: no query log kept in memory
    tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": slug, "brand_voice": "Plain."})
    start = time.perf_counter()
    with open_csv(csv_path) as stream:
        summary = contacts_import(tenant=tenant, stream=stream)
    seconds = time.perf_counter() - start
    peak_kb = peak_rss_kb()
    print(
        json.dumps(
            {
                "rows": summary.rows,
                "created": summary.created,
                "unchanged": summary.unchanged,
                "events": summary.events_emitted,
                "seconds": seconds,
                "peak_mb": peak_kb / 1024,
            }
        )
    )


def validate_only(csv_path: str) -> tuple[int, float]:
    """The baseline: read and validate every row, no database."""
    from tenants.imports import _batches, open_csv, read_rows

    start = time.perf_counter()
    rows = 0
    with open_csv(csv_path) as stream:
        for batch in _batches(read_rows(stream), default_category=None, agents={}, size=1000):
            rows += batch.rows
    return rows, time.perf_counter() - start


def run_child(csv_path: Path, slug: str, port: int) -> dict:
    output = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, __file__, "--child", str(csv_path), slug, str(port)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    setup_django("import")
    from emit import serve

    from tenants.models import Contact, Tenant

    queue: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(queue,), daemon=True)
    server.start()
    port = queue.get(timeout=10)
    Contact.objects.filter(tenant__slug__startswith="bench-import-").delete()
    Tenant.objects.filter(slug__startswith="bench-import-").delete()

    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp) / "10k.csv", Path(tmp) / "100k.csv"
        write_csv(small, 10_000)
        write_csv(large, 100_000)
        rows, seconds = validate_only(str(large))
        baseline_rate = rows / seconds
        print(f"baseline: read + validate 100,000 rows, no database: {baseline_rate:,.0f} rows/s")

        results = {
            "10k": run_child(small, "bench-import-10k", port),
            "100k": run_child(large, "bench-import-100k", port),
            "100k again": run_child(large, "bench-import-100k", port),
        }
    server.terminate()

    columns = ("rows", "created", "events", "rows/s", "events/s", "peak MB", "vs base")
    print(f"{'import':<12}" + "".join(f"{name:>10}" for name in columns))
    for name, r in results.items():
        rate = r["rows"] / r["seconds"]
        print(
            f"{name:<12}{r['rows']:>10,}{r['created']:>10,}{r['events']:>10,}{rate:>10,.0f}"
            f"{r['events'] / r['seconds']:>10,.0f}{r['peak_mb']:>10.1f}{rate / baseline_rate:>10.2f}"
        )
    memory_ratio = results["100k"]["peak_mb"] / results["10k"]["peak_mb"]
    rate = results["100k"]["rows"] / results["100k"]["seconds"]
    print(f"peak memory 100k / 10k: {memory_ratio:.2f} (aim: about 1, i.e. it does not grow with the file)")
    print(f"100k import: {rate:,.0f} rows/s (aim: 5,000 or more) -> {'met' if rate >= 5000 else 'NOT met'}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
