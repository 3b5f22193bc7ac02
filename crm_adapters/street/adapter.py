"""Street behind the neutral interface: enquiries create people, people are patched, notes target a person."""

from __future__ import annotations

from crm_adapters.base import CrmAdapter, CrmContact, CrmNote, RemoteContact, VerifyResult
from crm_adapters.models import CrmConnection, Provider

from . import mapping
from .client import StreetClient


class StreetAdapter(CrmAdapter):
    provider = Provider.STREET

    def __init__(self, connection: CrmConnection, *, client: StreetClient | None = None) -> None:
        super().__init__(connection)
        self.client = client or StreetClient(connection)

    def verify(self) -> VerifyResult:
        self.client.list_people(page_size=1)
        return VerifyResult(provider=self.provider, detail=f"Street answered at {self.client.base_url()}")

    def get_contact(self, external_id: str) -> RemoteContact:
        resource = self.client.get_person(external_id).get("data") or {}
        return RemoteContact(external_id=external_id, contact=mapping.person_to_contact(resource))

    def find_contact_by_email(self, email: str) -> RemoteContact | None:
        resource = mapping.matching_person(self.client.list_people(email=email), email)
        if resource is None:
            return None
        return RemoteContact(external_id=str(resource["id"]), contact=mapping.person_to_contact(resource))

    def create_contact(self, contact: CrmContact) -> str:
        body = self.client.create_enquiry(mapping.enquiry_body(contact))
        person_id = mapping.person_id_from_enquiry(body)
        if person_id is None:
            # The enquiry was stored but Street did not say which person it made: find them by email.
            found = self.find_contact_by_email(contact.email)
            if found is None:
                return self.client.missing_person_after_enquiry()
            return found.external_id
        return person_id

    def update_contact(self, remote: RemoteContact, contact: CrmContact) -> None:
        self.client.patch_person(remote.external_id, mapping.person_patch_body(remote.external_id, contact))

    def add_note(self, external_id: str, note: CrmNote, *, contact: CrmContact) -> str | None:
        body = self.client.create_note(mapping.note_body(external_id, note))
        note_id = (body.get("data") or {}).get("id")
        return str(note_id) if note_id is not None else None

    def close(self) -> None:
        self.client.close()
