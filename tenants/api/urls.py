from __future__ import annotations

from django.urls import path

from . import views

app_name = "api"

urlpatterns = [
    path("contacts/", views.ContactListCreate.as_view(), name="contacts"),
    path("contacts/<str:contact_id>/", views.ContactDetail.as_view(), name="contact"),
    path("contacts/<str:contact_id>/archive/", views.ContactArchive.as_view(), name="contact-archive"),
    path("contacts/<str:contact_id>/category/", views.ContactAssignCategory.as_view(), name="contact-category"),
    path("contacts/<str:contact_id>/sequences/", views.ContactSequences.as_view(), name="contact-sequences"),
    path("engagements/", views.EngagementCreate.as_view(), name="engagements"),
    path("alerts/", views.AlertList.as_view(), name="alerts"),
    path("alerts/<str:alert_id>/acknowledge/", views.AlertAcknowledge.as_view(), name="alert-acknowledge"),
]
