"""Tenant-owned models, one module per concern; every class is re-exported here explicitly."""

from .categories import Category
from .contact import CategoryAssignment, Contact, ContactQuerySet
from .engagement import EngagementEvent, HotLeadAlert, IntentScore
from .nurture import NurtureEmail, NurtureSequence
from .tenant import Membership, Tenant

__all__ = [
    "Category",
    "CategoryAssignment",
    "Contact",
    "ContactQuerySet",
    "EngagementEvent",
    "HotLeadAlert",
    "IntentScore",
    "Membership",
    "NurtureEmail",
    "NurtureSequence",
    "Tenant",
]
