"""The tenant settings form of the admin: lists and mappings as rows of inputs, never JSON typed by hand."""

from __future__ import annotations

from django import forms

from nurturehub.admin_widgets import ListRowsField, MappingRowsField

from .models import Category, Tenant

EMAILS_IN_A_SEQUENCE = 3


class TenantSettingsForm(forms.ModelForm):
    brand_vocabulary = ListRowsField(
        item_field=forms.CharField(max_length=100),
        max_items=50,
        help_text="Words and phrases the AI should prefer, one per row.",
    )
    alert_recipients = ListRowsField(
        item_field=forms.EmailField(),
        input_type="email",
        max_items=20,
        help_text="Extra addresses copied on every hot-lead alert, one per row.",
    )
    email_delays_days = ListRowsField(
        item_field=forms.IntegerField(min_value=0, max_value=365),
        input_type="number",
        min_items=EMAILS_IN_A_SEQUENCE,
        max_items=EMAILS_IN_A_SEQUENCE,
        extra=0,
        label="Email delays (days)",
        help_text="Days before each of the three emails (the first usually 0).",
    )
    category_multipliers = MappingRowsField(
        keys=Category.choices,
        value_field=forms.FloatField(min_value=0.1, max_value=10),
        input_type="number",
        help_text="Intent-score multiplier per category; blank keeps the default (docs/domain.md).",
    )

    class Meta:
        model = Tenant
        fields = [
            "name",
            "slug",
            "timezone",
            "brand_voice",
            "brand_tone",
            "brand_vocabulary",
            "brand_sign_off",
            "warm_threshold",
            "hot_threshold",
            "alert_cooldown_hours",
            "category_multipliers",
            "alert_recipients",
            "email_delays_days",
            "jobs_paused",
            "job_concurrency_limit",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance._state.adding and "email_delays_days" not in self.initial:
            # A ModelForm without an instance starts from no initial data at all, so a new agency's form showed
            # three empty rows and refused to save without them: start from the model's default instead.
            self.initial["email_delays_days"] = self.instance.email_delays_days
        delays = self.fields["email_delays_days"]
        # Exactly three rows: the stored delays, or the defaults on a new agency.
        delays.widget.extra = max(0, EMAILS_IN_A_SEQUENCE - len(self.initial.get("email_delays_days") or []))
