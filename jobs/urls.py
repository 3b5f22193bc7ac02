"""The Inngest serve endpoint (`/api/inngest`): GET introspection, PUT sync, POST step execution.

Served through `jobs.serve`, which adds the signature age and replay checks the SDK leaves out.
"""

from __future__ import annotations

from .client import inngest_client
from .functions import ALL_FUNCTIONS
from .serve import serve

urlpatterns = [serve(inngest_client, ALL_FUNCTIONS)]
