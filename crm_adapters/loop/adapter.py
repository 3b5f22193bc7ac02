"""Loop behind the neutral interface, over the ASSUMED endpoints documented in loop/client.py."""

from __future__ import annotations

from crm_adapters.base import CrmAdapter, CrmContact, CrmNote, RemoteContact, VerifyResult
from crm_adapters.models import CrmConnection, Provider

from . import mapping
from .client import LoopClient


class LoopAdapter(CrmAdapter):
    provider = Provider.LOOP

    def __init__(self, connection: CrmConnection, *, client: LoopClient | None = None) -> None:
        super().__init__(connection)
        self.client = client or LoopClient(connection)

    def verify(self) -> VerifyResult:
        self.client.probe_contacts_endpoint()
        return VerifyResult(
            provider=self.provider,
            detail=f"Loop's contact API answered at {self.client.base_url()} (endpoints are assumptions; see docs)",
        )

    def get_contact(self, external_id: str) -> RemoteContact:
        return RemoteContact(
            external_id=external_id, contact=mapping.contact_from_loop(self.client.get_contact(external_id))
        )

    def find_contact_by_email(self, email: str) -> RemoteContact | None:
        item = mapping.matching_contact(self.client.search_contacts(email), email)
        if item is None:
            return None
        return RemoteContact(external_id=str(item["id"]), contact=mapping.contact_from_loop(item))

    def create_contact(self, contact: CrmContact) -> str:
        return self.client.create_contact(mapping.contact_body(contact))

    def update_contact(self, remote: RemoteContact, contact: CrmContact) -> None:
        self.client.patch_contact(remote.external_id, mapping.contact_body(contact))

    def add_note(self, external_id: str, note: CrmNote, *, contact: CrmContact) -> str | None:
        return self.client.create_note(external_id, mapping.note_body(note))

    def holds_category(self, category: str) -> bool:
        return True

    def close(self) -> None:
        self.client.close()
