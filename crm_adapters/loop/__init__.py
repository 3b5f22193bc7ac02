"""Loop CRM adapter package, against ASSUMED endpoints (to confirm with Loop support).

Loop issues API keys per team and its public v1 API documents no write endpoints, so this adapter targets the
connection's configured `base_url` with `Authorization: Bearer <api_key>` and a flat contact API (search by
email, get, create, patch, notes), listed in `client.py`. Its connection check fails with a clear message when
that endpoint answers 404.
"""
