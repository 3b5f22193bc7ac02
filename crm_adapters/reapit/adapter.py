"""Reapit behind the neutral interface: contacts with eTag-guarded updates, notes as journal entries."""

from __future__ import annotations

from crm_adapters.base import CrmAdapter, CrmContact, CrmNote, RemoteContact, VerifyResult, contact_fill_blanks
from crm_adapters.models import CrmConnection, Provider

from . import mapping
from .client import ReapitClient, StaleETag

DEFAULT_JOURNAL_TYPE = "GE"  # Reapit's general journal entry type; override with config `journal_type_id`.


class ReapitAdapter(CrmAdapter):
    provider = Provider.REAPIT

    def __init__(self, connection: CrmConnection, *, client: ReapitClient | None = None) -> None:
        super().__init__(connection)
        self.client = client or ReapitClient(connection)
        config = connection.config or {}
        self.office_ids = _as_list(config.get("office_ids") or config.get("office_id"))
        self.negotiator_ids = _as_list(config.get("negotiator_ids") or config.get("negotiator_id"))
        self.category_ids: dict[str, str] = dict(config.get("category_ids") or {})
        self.journal_type_id = str(config.get("journal_type_id") or DEFAULT_JOURNAL_TYPE)
        self.source_id = str(config.get("source_id") or "")
        # Every category id Reapit holds per contact we read, so a PATCH adds ours without dropping theirs.
        self._category_ids_held: dict[str, list[str]] = {}

    def verify(self) -> VerifyResult:
        body = self.client.search_contacts(page_size=1)
        return VerifyResult(
            provider=self.provider,
            detail=f"Reapit answered for customer {self.client.setting('customer_id')}",
            extra={"contacts": body.get("totalCount")},
        )

    def get_contact(self, external_id: str) -> RemoteContact:
        body, etag = self.client.get_contact(external_id)
        return self._remote(body, etag)

    def find_contact_by_email(self, email: str) -> RemoteContact | None:
        wanted = email.strip().lower()
        for item in self.client.search_contacts(email=email).get("_embedded") or []:
            if (item.get("email") or "").strip().lower() == wanted:
                return self._remote(item, item.get("_eTag"))
        return None

    def create_contact(self, contact: CrmContact) -> str:
        body = mapping.contact_create_body(
            contact,
            office_ids=self.office_ids,
            negotiator_ids=self.negotiator_ids,
            category_ids=self.category_ids,
            source_id=self.source_id,
        )
        return self.client.create_contact(body)

    def update_contact(self, remote: RemoteContact, contact: CrmContact) -> None:
        etag = remote.etag
        if etag is None:
            remote = self.get_contact(remote.external_id)
            etag = remote.etag or "*"
        try:
            self._patch(remote, contact, etag)
        except StaleETag:
            # Someone edited the contact in Reapit meanwhile: read it again, re-merge (the CRM wins), retry once.
            fresh = self.get_contact(remote.external_id)
            if fresh.contact is None:
                return
            merged = contact_fill_blanks(remote=fresh.contact, ours=contact)
            if merged is not None:
                self._patch(fresh, merged, fresh.etag or "*")

    def _patch(self, remote: RemoteContact, contact: CrmContact, etag: str) -> None:
        current = self._category_ids_held.get(remote.external_id, [])
        body = mapping.contact_patch_body(contact, current_category_ids=current, category_ids=self.category_ids)
        self.client.patch_contact(remote.external_id, body, etag=etag)

    def add_note(self, external_id: str, note: CrmNote, *, contact: CrmContact) -> str | None:
        negotiator = self.negotiator_ids[0] if self.negotiator_ids else ""
        body = mapping.journal_entry_body(external_id, note, type_id=self.journal_type_id, negotiator_id=negotiator)
        return self.client.create_journal_entry(body)

    def _remote(self, body: dict, etag: str | None) -> RemoteContact:
        self._category_ids_held[str(body.get("id"))] = [str(c) for c in body.get("categoryIds") or []]
        return RemoteContact(
            external_id=str(body.get("id")),
            contact=mapping.contact_from_reapit(body, category_ids=self.category_ids),
            etag=etag,
        )

    def holds_category(self, category: str) -> bool:
        return category in self.category_ids

    def close(self) -> None:
        self.client.close()


def _as_list(value: object) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return [str(value)]
