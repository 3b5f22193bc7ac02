from django.apps import AppConfig


class CrmAdaptersConfig(AppConfig):
    name = "crm_adapters"
    verbose_name = "CRM integrations"
