"""The engine's endpoints at the origin root, where the SDK looks for an Inngest server; /v0/gql as its dev server."""

from __future__ import annotations

from django.urls import path

from . import gql, rerun, views

urlpatterns = [
    path("e/<str:event_key>", views.event_intake, name="engine-event-intake"),
    path("fn/register", views.function_register, name="engine-function-register"),
    path("v1/runs/<str:run_id>", views.run_cancel_view, name="engine-run-cancel"),
    path("v0/gql", gql.graphql_view, name="engine-graphql"),
    path("v0/runs/<str:run_id>/batch", views.run_batch_view, name="engine-run-batch"),
    path("v0/runs/<str:run_id>/actions", views.run_actions_view, name="engine-run-actions"),
    path("api/v2/runs/<str:run_id>/rerun", rerun.run_rerun_view, name="engine-run-rerun"),
]
