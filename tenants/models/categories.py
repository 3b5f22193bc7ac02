"""The twelve contact categories (domain.md): the slug decides prompts, scoring multipliers and alerts."""

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
