"""Admin and API latency at scale: 1,000,000 JobRun rows and 100,000 contacts.

Times (best of 7, through Django's test client: URL routing, middleware, queries and template rendering) the
failed-runs admin list filtered by one tenant and the contacts API list (first page and a later page by cursor).
Baseline measured in the same run: the same requests for a tenant with no rows; the ratio shows what the data
costs. Then prints the query plans of the main queries, to check that they use indexes (no Seq Scan).
Aims: failed-runs list under 300 ms, contacts API list under 50 ms. Also shown: a /metrics scrape at this size.
Run: `.venv/bin/python bench/admin.py` (the first run spends a minute generating the rows; later runs reuse them).
"""

from __future__ import annotations

import time

from _setup import setup_django

RUNS = 1_000_000
CONTACTS = 100_000
TENANTS = 50
FUNCTIONS = ["contact-category-assigned", "nurture-sequence-generate", "crm-sync-push", "lead-intent-score"]


def generate() -> None:
    from django.db import connection

    from jobs.models import JobRun
    from tenants.models import Contact, Tenant

    tenants = list(Tenant.objects.filter(slug__startswith="bench-admin-").order_by("slug"))
    if len(tenants) < TENANTS + 1:
        Tenant.objects.bulk_create(
            [
                Tenant(name=f"Bench agency {i:02d}", slug=f"bench-admin-{i:02d}", brand_voice="Plain.")
                for i in range(TENANTS + 1)
            ],
            ignore_conflicts=True,
        )
        tenants = list(Tenant.objects.filter(slug__startswith="bench-admin-").order_by("slug"))
    busy, empty = tenants[1:], tenants[0]
    if JobRun.objects.filter(run_id__startswith="bench-").count() < RUNS:
        print(f"generating {RUNS:,} runs ...", flush=True)
        JobRun.objects.filter(run_id__startswith="bench-").delete()
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO jobs_jobrun (run_id, function_id, tenant_id, event_name, event_id, status, attempts,
                    error, error_type, started_at, finished_at, updated_at, queue_wait_ms)
                SELECT 'bench-' || g, (%s::text[])[1 + g %% 4], (%s::uuid[])[1 + g %% %s],
                    'contact/category.assigned', '',
                    CASE WHEN g %% 10 = 0 THEN 'failed' ELSE 'completed' END, g %% 3,
                    CASE WHEN g %% 10 = 0 THEN '{"name": "CrmAuthError", "message": "401"}'::jsonb END,
                    CASE WHEN g %% 10 = 0 THEN 'CrmAuthError' ELSE '' END,
                    now() - make_interval(secs => g * 2.5), now() - make_interval(secs => g * 2.5 - 3), now(),
                    g %% 5000
                FROM generate_series(1, %s) AS g
                """,
                [FUNCTIONS, [str(t.id) for t in busy], len(busy), RUNS],
            )
            cursor.execute("ANALYZE jobs_jobrun")
    if Contact.objects.filter(tenant=busy[0]).count() < CONTACTS:
        print(f"generating {CONTACTS:,} contacts ...", flush=True)
        Contact.objects.filter(tenant=busy[0]).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO tenants_contact (id, tenant_id, first_name, last_name, email, phone, address, source,
                    consent_status, category, intent_score, is_archived, created_at, updated_at)
                SELECT gen_random_uuid(), %s, 'First' || g, 'Last' || g, 'bench' || g || '@example.co.uk', '', '',
                    'csv-import', 'unknown', 'seller', g %% 100, false,
                    now() - make_interval(secs => g), now()
                FROM generate_series(1, %s) AS g
                """,
                [str(busy[0].id), CONTACTS],
            )
            cursor.execute("ANALYZE tenants_contact")
    return busy[0], empty


def best_ms(action, repeats: int = 7) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        timings.append((time.perf_counter() - start) * 1000)
    return min(timings)


def main() -> None:
    setup_django("admin")
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from tenants.models import Membership

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.DEBUG = False
    busy, empty = generate()

    user_model = get_user_model()
    admin_user, _ = user_model.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    admin_client = Client()
    admin_client.force_login(admin_user)

    def api_client_for(tenant) -> APIClient:
        member, _ = user_model.objects.get_or_create(username=f"bench-member-{tenant.slug}")
        Membership.objects.get_or_create(user=member, tenant=tenant)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=member)[0].key}")
        return client

    def failed_runs(tenant):
        response = admin_client.get("/admin/jobs/failedjobrun/", {"tenant__id__exact": str(tenant.id)})
        assert response.status_code == 200, response.status_code
        return response

    def contacts(client, url="/api/v1/contacts/"):
        response = client.get(url)
        assert response.status_code == 200, response.status_code
        return response

    def metrics():
        response = admin_client.get("/metrics")
        assert response.status_code == 200, response.status_code
        return response

    busy_api, empty_api = api_client_for(busy), api_client_for(empty)
    second_page = contacts(busy_api).json()["next"]
    rows = [
        ("failed-runs admin list (tenant filter)", lambda: failed_runs(busy), lambda: failed_runs(empty), 300),
        ("contacts API list, first page", lambda: contacts(busy_api), lambda: contacts(empty_api), 50),
        ("contacts API list, next page", lambda: contacts(busy_api, second_page), lambda: contacts(empty_api), 50),
        # No aim here: shown for scale (bench/metrics.py compares the scrape with its baselines).
        ("/metrics (1M runs)", metrics, None, None),
    ]
    print(f"{'request':<42}{'ms':>8}{'empty ms':>10}{'ratio':>8}{'aim ms':>8}")
    for name, action, baseline, aim in rows:
        action()  # warm caches and connections
        measured = best_ms(action)
        verdict = "" if aim is None else "met" if measured < aim else "NOT met"
        if baseline is None:  # nothing comparable to time it against
            print(f"{name:<42}{measured:>8.1f}{'-':>10}{'-':>8}{aim or '-':>8}  {verdict}")
            continue
        base = best_ms(baseline)
        print(f"{name:<42}{measured:>8.1f}{base:>10.1f}{measured / base:>8.2f}{aim or '-':>8}  {verdict}")

    print("\nquery plans (the slowest queries of each request):")
    for name, action, _, _ in rows:
        with CaptureQueriesContext(connection) as captured:
            action()
        slowest = sorted(captured.captured_queries, key=lambda q: float(q["time"]), reverse=True)[:2]
        for query in slowest:
            if not query["sql"].lstrip().upper().startswith("SELECT"):
                continue
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN {query['sql']}")
                plan = [line for (line,) in cursor.fetchall()]
            scans = [line.strip() for line in plan if "Scan" in line]
            print(f"- {name} ({float(query['time']) * 1000:.1f} ms): {'; '.join(scans[:3])}")


if __name__ == "__main__":
    main()
