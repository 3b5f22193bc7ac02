"""Which adapter serves a connection: the one place that knows the providers' packages."""

from __future__ import annotations

from importlib import import_module

from .base import CrmAdapter
from .errors import CrmConfigurationError
from .models import CrmConnection, Provider

# Imported lazily so that a provider's package is loaded only when a tenant uses it.
ADAPTERS: dict[str, str] = {
    Provider.AGENTOS: "crm_adapters.agentos.adapter.AgentOsAdapter",
    Provider.REAPIT: "crm_adapters.reapit.adapter.ReapitAdapter",
    Provider.ALTO: "crm_adapters.alto.adapter.AltoAdapter",
    Provider.STREET: "crm_adapters.street.adapter.StreetAdapter",
    Provider.LOOP: "crm_adapters.loop.adapter.LoopAdapter",
}


def adapter_class_for(provider: str) -> type[CrmAdapter]:
    try:
        dotted = ADAPTERS[provider]
    except KeyError:
        raise CrmConfigurationError(f"Unknown CRM provider {provider!r}", provider=str(provider)) from None
    module_name, _, class_name = dotted.rpartition(".")
    return getattr(import_module(module_name), class_name)


def adapter_for(connection: CrmConnection) -> CrmAdapter:
    """The adapter for this tenant's configured CRM (close it when done, or use it in a `with` block)."""
    return adapter_class_for(connection.provider)(connection)
