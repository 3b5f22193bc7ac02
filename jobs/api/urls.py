from __future__ import annotations

from django.urls import path

from . import views

app_name = "runs-api"

urlpatterns = [
    path("runs/", views.RunList.as_view(), name="runs"),
    path("runs/<str:run_id>/", views.RunDetail.as_view(), name="run"),
]
