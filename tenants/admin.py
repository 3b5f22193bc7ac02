from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from crm_adapters.models import CrmConnection

from .admin_activity import contact_activity, contact_crm_status
from .admin_badges import paused_badge
from .forms import TenantSettingsForm
from .models import CategoryAssignment, Contact, Membership, NurtureEmail, NurtureSequence, Tenant
from .services import agencies_jobs_pause


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class CrmConnectionInline(admin.StackedInline):
    """The tenant's CRM connection, read here; edited (per-provider fields, Test connection) on its own page."""

    model = CrmConnection
    extra = 0
    max_num = 1
    can_delete = False
    verbose_name = "CRM connection"
    fields = ["provider", "status", "stored_secrets", "last_error", "last_synced_at", "edit_and_test"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Stored secrets")
    def stored_secrets(self, obj: CrmConnection) -> str:
        return ", ".join(obj.secret_names) or "none"

    @admin.display(description="Edit")
    def edit_and_test(self, obj: CrmConnection) -> str:
        # A button of the tenant form posting to the connection's test view (forms cannot nest): saved values.
        return format_html(
            '<a class="button" href="{}" id="nh-edit-crm">Edit the connection (test new values before saving)</a> '
            '<button type="submit" class="button" id="nh-test-connection" formmethod="post" formaction="{}" '
            'name="next" value="{}">Test the saved connection</button>',
            reverse("admin:crm_adapters_crmconnection_change", args=[obj.pk]),
            reverse("admin:crm_adapters_crmconnection_test", args=[obj.pk]),
            reverse("admin:tenants_tenant_change", args=[obj.tenant_id]),
        )


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    form = TenantSettingsForm
    list_display = ["name", "slug", "timezone", "warm_threshold", "hot_threshold", "background_jobs", "created_at"]
    list_filter = ["jobs_paused"]
    actions = ["pause_jobs", "resume_jobs"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline, CrmConnectionInline]
    readonly_fields = ["job_runs"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "timezone"]}),
        ("Brand voice", {"fields": ["brand_voice", "brand_tone", "brand_vocabulary", "brand_sign_off"]}),
        (
            "Scoring and alerts",
            {
                "fields": [
                    "warm_threshold",
                    "hot_threshold",
                    "alert_cooldown_hours",
                    "category_multipliers",
                    "alert_recipients",
                ]
            },
        ),
        ("Sequences", {"fields": ["email_delays_days"]}),
        ("Background jobs", {"fields": ["jobs_paused", "job_concurrency_limit", "job_runs"]}),
    ]

    # Pausing: a button at the top of the form, a list action, and a badge wherever the agency shows.

    def get_urls(self):
        return [
            path(
                "<path:object_id>/jobs/<str:switch>/",
                self.admin_site.admin_view(self.jobs_switch_view),
                name="tenants_tenant_jobs_switch",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="Background jobs", ordering="jobs_paused")
    def background_jobs(self, obj: Tenant) -> str:
        running = format_html('<span class="nh-status nh-status-{}">{}</span>', "completed", "running")
        return paused_badge(obj) or running

    def jobs_switch_view(self, request: HttpRequest, object_id: str, switch: str) -> HttpResponse:
        """POST <id>/jobs/pause/ or .../resume/: the form's Pause/Resume button."""
        tenant = get_object_or_404(Tenant, pk=object_id)
        if request.method != "POST" or switch not in ("pause", "resume"):
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request, tenant):
            return HttpResponse(status=403)
        self._switch(request, [tenant.pk], paused=switch == "pause")
        return HttpResponseRedirect(reverse("admin:tenants_tenant_change", args=[tenant.pk]))

    @admin.action(description="Pause background work of the selected agencies", permissions=["change"])
    def pause_jobs(self, request: HttpRequest, queryset) -> None:
        self._switch(request, list(queryset.values_list("pk", flat=True)), paused=True)

    @admin.action(description="Resume background work of the selected agencies", permissions=["change"])
    def resume_jobs(self, request: HttpRequest, queryset) -> None:
        self._switch(request, list(queryset.values_list("pk", flat=True)), paused=False)

    def _switch(self, request: HttpRequest, tenant_ids: list, *, paused: bool) -> None:
        changed = agencies_jobs_pause(tenant_ids=tenant_ids, paused=paused)
        if paused:
            detail = "their runs wait in durable sleeps until resumed"
        else:
            detail = "their waiting runs go on at their next check"
        agencies = "agency" if changed == 1 else "agencies"
        what = "Paused" if paused else "Resumed"
        self.message_user(request, f"{what} background work of {changed} {agencies}: {detail}.")

    @admin.display(description="Runs")
    def job_runs(self, obj: Tenant) -> str:
        if obj.pk is None:
            return "-"
        runs = format_html(
            '<a href="{}?{}">Failed runs of this agency</a> &middot; <a href="{}?{}">All its runs</a>',
            reverse("admin:jobs_failedjobrun_changelist"),
            urlencode({"tenant__id__exact": obj.pk}),
            reverse("admin:jobs_jobrun_changelist"),
            urlencode({"tenant__id__exact": obj.pk}),
        )
        if hasattr(obj, "crm_connection"):
            return runs
        return format_html(
            '{} &middot; <a href="{}?{}">Connect a CRM</a>',
            runs,
            reverse("admin:crm_adapters_crmconnection_add"),
            urlencode({"tenant": obj.pk}),
        )


class CategoryAssignmentInline(admin.TabularInline):
    model = CategoryAssignment
    extra = 0
    can_delete = False
    fields = ["to_category", "from_category", "source", "assigned_by", "assigned_at", "superseded_at"]
    readonly_fields = fields
    ordering = ["-assigned_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class SequenceInline(admin.TabularInline):
    model = NurtureSequence
    extra = 0
    can_delete = False
    fields = ["sequence_link", "category", "status", "model", "created_at"]
    readonly_fields = fields
    ordering = ["-created_at"]
    verbose_name_plural = "sequences"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Sequence")
    def sequence_link(self, obj: NurtureSequence) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:tenants_nurturesequence_change", args=[obj.pk]), obj)


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    """A contact's page: its fields, then its category history, sequences, runs and events, and CRM sync status."""

    list_display = ["full_name", "email", "tenant", "category", "intent_score", "consent_status", "is_archived"]
    list_filter = ["category", "consent_status", "is_archived", "source", "tenant"]
    search_fields = ["email", "first_name", "last_name", "=id"]
    list_select_related = ["tenant"]
    raw_id_fields = ["assigned_agent"]
    readonly_fields = ["category", "intent_score", "created_at", "updated_at", "runs_and_events", "crm_sync_status"]
    inlines = [CategoryAssignmentInline, SequenceInline]
    show_full_result_count = False

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        own = [name for name in fieldsets[0][1]["fields"] if name not in ("runs_and_events", "crm_sync_status")]
        # What happened to the contact first (an operator arrives here from a run); its editable fields after.
        return [
            ("Runs and events", {"fields": ["runs_and_events"]}),
            ("CRM sync", {"fields": ["crm_sync_status"]}),
            ("Contact", {"fields": own}),
        ]

    @admin.display(description="Runs and events")
    def runs_and_events(self, obj: Contact) -> str:
        return render_to_string("admin/tenants/contact/_runs.html", contact_activity(contact=obj))

    @admin.display(description="CRM sync status")
    def crm_sync_status(self, obj: Contact) -> str:
        return render_to_string("admin/tenants/contact/_crm.html", contact_crm_status(contact=obj))


class NurtureEmailInline(admin.StackedInline):
    model = NurtureEmail
    extra = 0
    can_delete = False
    fields = ["position", "send_delay_days", "subject", "preview_text", "body_text"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(NurtureSequence)
class NurtureSequenceAdmin(admin.ModelAdmin):
    """Sequences are written by the pipeline; operators read them (agents approve them in the product)."""

    list_display = ["contact", "tenant", "category", "status", "model", "created_at"]
    list_filter = ["status", "category", "tenant"]
    search_fields = ["contact__email", "=id", "=source_event_id"]
    list_select_related = ["contact", "tenant"]
    fields = [
        "tenant",
        "contact",
        "category",
        "status",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "source_event_id",
        "created_at",
    ]
    readonly_fields = fields
    inlines = [NurtureEmailInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
