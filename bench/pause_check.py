"""The pause switch's check, made before every step request: the tenant read it was against the cached set.

Same run, same tenants (200 agencies, 20 of them paused), 20,000 checks each way, best of 5:
- before (the baseline): the query every step request made, `Tenant.objects.filter(pk=..., jobs_paused=True)
  .exists()`;
- now: `tenants.pause_flags.tenant_jobs_paused`, the per-process set invalidated by NOTIFY.
Prints µs and SQL statements per check and the ratio now/before. (`bench/step_cost.py` counts the dispatcher's
statements, and its function does not go through `job_function`, so this check never shows there: the web side's
saving is this figure, once per step request.)
Run: `.venv/bin/python bench/pause_check.py` (seconds; its own database).
"""

from __future__ import annotations

import time

from _setup import setup_django

CHECKS = 20_000
ROUNDS = 5


def main() -> None:
    setup_django("pause_check")
    from django.db import connection

    from tenants.models import Tenant
    from tenants.pause_flags import paused_tenants, tenant_jobs_paused

    Tenant.objects.filter(slug__startswith="bench-pause-").delete()
    Tenant.objects.bulk_create(
        [Tenant(name=f"Bench {n}", slug=f"bench-pause-{n}", jobs_paused=n % 10 == 0) for n in range(200)]
    )
    ids = list(Tenant.objects.filter(slug__startswith="bench-pause-").values_list("pk", flat=True))
    wanted = [ids[n % len(ids)] for n in range(CHECKS)]

    def before() -> None:
        for tenant_id in wanted:
            Tenant.objects.filter(pk=tenant_id, jobs_paused=True).exists()

    def now() -> None:
        for tenant_id in wanted:
            tenant_jobs_paused(tenant_id)

    tenant_jobs_paused(ids[0])
    deadline = time.monotonic() + 30
    while not paused_tenants._listening.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [tenant_jobs_paused(i) for i in ids] == [
        Tenant.objects.filter(pk=i, jobs_paused=True).exists() for i in ids
    ], "the cached answers must be the query's"

    best = {"before": float("inf"), "now": float("inf")}
    statements = {}
    for _ in range(ROUNDS):
        for name, action in (("before", before), ("now", now)):
            counted = [0]

            def count(execute, sql, params, many, context, counted=counted):
                counted[0] += 1
                return execute(sql, params, many, context)

            with connection.execute_wrapper(count):
                start = time.perf_counter()
                action()
                best[name] = min(best[name], time.perf_counter() - start)
            statements[name] = counted[0] / CHECKS
    paused_tenants.stop()

    print(f"{CHECKS:,} checks over 200 agencies (20 paused), best of {ROUNDS}")
    print(f"{'check':<44}{'µs/check':>10}{'SQL/check':>11}")
    for name, label in (("before", "before: the tenant query (baseline)"), ("now", "now: the cached, invalidated set")):
        print(f"{label:<44}{best[name] / CHECKS * 1e6:>10.2f}{statements[name]:>11.2f}")
    print(f"ratio now/before: {best['now'] / best['before']:.3f}")


if __name__ == "__main__":
    main()
