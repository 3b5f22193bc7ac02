from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from crm_adapters.admin import CrmConnectionForm
from crm_adapters.models import CrmConnection

from .models import CategoryAssignment, Contact, Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class CrmConnectionInline(admin.StackedInline):
    """The tenant's CRM connection on its configuration page: secrets write-only, a "test connection" button."""

    model = CrmConnection
    form = CrmConnectionForm
    extra = 0
    max_num = 1
    verbose_name = "CRM connection"
    fields = [
        "provider",
        "config",
        "status",
        "new_secrets",
        "stored_secrets",
        "last_error",
        "last_synced_at",
        "test_connection",
    ]
    readonly_fields = ["stored_secrets", "last_error", "last_synced_at", "test_connection"]

    @admin.display(description="Stored secrets")
    def stored_secrets(self, obj: CrmConnection) -> str:
        return ", ".join(obj.secret_names) or "none"

    @admin.display(description="Check")
    def test_connection(self, obj: CrmConnection) -> str:
        if obj.pk is None:
            return "save the connection first"
        # A button of the tenant form posting to the connection's test view (forms cannot nest).
        return format_html(
            '<button type="submit" class="button" id="nh-test-connection" formmethod="post" formaction="{}" '
            'name="next" value="{}">Test connection</button>',
            reverse("admin:crm_adapters_crmconnection_test", args=[obj.pk]),
            reverse("admin:tenants_tenant_change", args=[obj.tenant_id]),
        )


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "timezone", "warm_threshold", "hot_threshold", "jobs_paused", "created_at"]
    list_filter = ["jobs_paused"]
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

    @admin.display(description="Runs")
    def job_runs(self, obj: Tenant) -> str:
        if obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}?{}">Failed runs of this agency</a> &middot; <a href="{}?{}">All its runs</a>',
            reverse("admin:jobs_failedjobrun_changelist"),
            urlencode({"tenant__id__exact": obj.pk}),
            reverse("admin:jobs_jobrun_changelist"),
            urlencode({"tenant__id__exact": obj.pk}),
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


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["full_name", "email", "tenant", "category", "intent_score", "consent_status", "is_archived"]
    list_filter = ["category", "consent_status", "is_archived", "source", "tenant"]
    search_fields = ["email", "first_name", "last_name", "=id"]
    list_select_related = ["tenant"]
    raw_id_fields = ["assigned_agent"]
    readonly_fields = ["category", "intent_score", "created_at", "updated_at"]
    inlines = [CategoryAssignmentInline]
    show_full_result_count = False
