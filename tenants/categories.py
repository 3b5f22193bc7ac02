"""The twelve contact categories (domain.md): the slug decides prompts, scoring multipliers and alerts.

A leaf module (it imports only Django's `TextChoices`): the event catalogue and the AI prompts use it without
loading the tenants models.
"""

from __future__ import annotations

from django.db import models


class Category(models.TextChoices):
    SELLER = "seller", "Seller"
    LANDLORD = "landlord", "Landlord"
    BUYER = "buyer", "Buyer"
    TENANT = "tenant", "Tenant"
    BUY_TO_LET_INVESTOR = "buy-to-let-investor", "Buy-to-let investor"
    ACTIVE_TENANT = "active-tenant", "Active tenant"
    PROSPECTIVE_LANDLORD = "prospective-landlord", "Prospective landlord"
    PROSPECTIVE_SELLER = "prospective-seller", "Prospective seller"
    VENDOR = "vendor", "Vendor"
    APPLICANT = "applicant", "Applicant"
    PROPERTY_INVESTOR = "property-investor", "Property investor"
    COMMERCIAL_LANDLORD = "commercial-landlord", "Commercial landlord"
