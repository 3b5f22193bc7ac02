from __future__ import annotations

from django.contrib import admin

from .models import CategoryAssignment, Contact, Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "timezone", "warm_threshold", "hot_threshold", "jobs_paused", "created_at"]
    list_filter = ["jobs_paused"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
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
        ("Background jobs", {"fields": ["jobs_paused", "job_concurrency_limit"]}),
    ]


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
