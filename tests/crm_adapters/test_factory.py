"""The factory returns the adapter of the tenant's configured CRM, and every adapter implements the interface."""

from __future__ import annotations

import inspect

import pytest

from crm_adapters.agentos.adapter import AgentOsAdapter
from crm_adapters.alto.adapter import AltoAdapter
from crm_adapters.base import CrmAdapter
from crm_adapters.errors import CrmConfigurationError
from crm_adapters.factory import adapter_for
from crm_adapters.loop.adapter import LoopAdapter
from crm_adapters.models import Provider
from crm_adapters.reapit.adapter import ReapitAdapter
from crm_adapters.street.adapter import StreetAdapter
from tests.factories import CrmConnectionFactory

pytestmark = pytest.mark.django_db

EXPECTED = {
    Provider.AGENTOS: AgentOsAdapter,
    Provider.REAPIT: ReapitAdapter,
    Provider.ALTO: AltoAdapter,
    Provider.STREET: StreetAdapter,
    Provider.LOOP: LoopAdapter,
}


@pytest.mark.parametrize("provider", list(Provider))
def test_the_factory_picks_the_tenants_crm(provider, tenant):
    connection = CrmConnectionFactory(tenant=tenant, provider=provider, config={"base_url": "http://127.0.0.1:9"})

    with adapter_for(connection) as adapter:
        assert type(adapter) is EXPECTED[provider]
        assert adapter.provider == provider
        assert adapter.connection is connection


def test_every_provider_has_an_adapter_that_implements_the_whole_interface():
    assert set(EXPECTED) == set(Provider)
    abstract = {name for name, member in vars(CrmAdapter).items() if getattr(member, "__isabstractmethod__", False)}
    for adapter_class in EXPECTED.values():
        assert not inspect.isabstract(adapter_class)
        for name in abstract:
            assert inspect.signature(getattr(adapter_class, name)) == inspect.signature(getattr(CrmAdapter, name))


def test_an_unknown_provider_is_a_configuration_error(tenant):
    connection = CrmConnectionFactory.build(tenant=tenant, provider="salesforce")

    with pytest.raises(CrmConfigurationError, match="salesforce"):
        adapter_for(connection)
