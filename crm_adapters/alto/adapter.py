"""Alto behind the neutral interface.

De-duplication relies on Alto's own documented duplicate check: a create that matches an existing contact
answers 409 with that contact's `Location`, which `crm_push_contact` resolves to the existing record. Alto's
public API documents no search by email that we could confirm, so none is used. Updating people goes through
Alto's JSON-Patch person endpoints, which we have not confirmed against a sandbox: an existing Alto contact is
therefore left as it is (contact fields: the CRM wins), and our data reaches it through file notes.
"""

from __future__ import annotations

from crm_adapters.base import CrmAdapter, CrmContact, CrmNote, RemoteContact, VerifyResult
from crm_adapters.models import CrmConnection, Provider

from . import mapping
from .client import AltoClient


class AltoAdapter(CrmAdapter):
    provider = Provider.ALTO
    supports_email_lookup = False
    supports_update = False

    def __init__(self, connection: CrmConnection, *, client: AltoClient | None = None) -> None:
        super().__init__(connection)
        self.client = client or AltoClient(connection)
        self.note_type = str((connection.config or {}).get("file_note_type") or mapping.FILE_NOTE_TYPE)

    def verify(self) -> VerifyResult:
        branches = self.client.list_branches()
        items = branches.get("items", branches) if isinstance(branches, dict) else branches
        branch_ids = [str(item.get("id")) for item in items or [] if isinstance(item, dict)]
        branch_id = str((self.connection.config or {}).get("branch_id") or "")
        detail = f"Alto answered for agency {self.client.setting('agency_ref')}"
        if branch_id and branch_ids and branch_id not in branch_ids:
            detail += f"; warning: branch {branch_id} is not among the agency's branches"
        return VerifyResult(provider=self.provider, detail=detail, extra={"branches": len(branch_ids)})

    def get_contact(self, external_id: str) -> RemoteContact:
        return RemoteContact(
            external_id=external_id, contact=mapping.contact_from_alto(self.client.get_contact(external_id))
        )

    def find_contact_by_email(self, email: str) -> RemoteContact | None:
        return None

    def create_contact(self, contact: CrmContact) -> str:
        return self.client.create_contact(
            mapping.contact_create_body(contact, branch_id=self.client.setting("branch_id"))
        )

    def update_contact(self, remote: RemoteContact, contact: CrmContact) -> None:
        """Alto updates are not implemented (see the module docstring); `supports_update` is False."""
        raise NotImplementedError("Alto contact updates are not supported by this adapter")

    def add_note(self, external_id: str, note: CrmNote, *, contact: CrmContact) -> str | None:
        return self.client.create_file_note(mapping.file_note_body(external_id, note, note_type=self.note_type))

    def close(self) -> None:
        self.client.close()
