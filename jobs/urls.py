"""The Inngest serve endpoint (`/api/inngest`): GET introspection, PUT sync, POST step execution."""

from __future__ import annotations

import inngest.django

from .client import inngest_client
from .functions import ALL_FUNCTIONS

urlpatterns = [inngest.django.serve(inngest_client, ALL_FUNCTIONS)]
