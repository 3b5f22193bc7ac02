"""The categories as the models see them: the class itself lives in the leaf module `tenants.categories`, so that
code needing only the twelve names (the event catalogue) does not load every model."""

from tenants.categories import Category

__all__ = ["Category"]
