"""agentOS behind the neutral interface.

agentOS's documented write path is the tenancy application: it creates a prospect, or links to the existing
contact with the same email, so agentOS de-duplicates by email itself and no separate lookup is needed (none is
documented for this path). There is no documented read or update of a prospect on this path: a mapped prospect
is taken as present and never overwritten (contact fields: the CRM wins). A note is sent as the `Message` of a
tenancy application for the same email, which agentOS links to that prospect.
"""

from __future__ import annotations

from crm_adapters.base import CrmAdapter, CrmContact, CrmNote, RemoteContact, VerifyResult
from crm_adapters.models import CrmConnection, Provider

from . import mapping
from .client import AgentOsClient


class AgentOsAdapter(CrmAdapter):
    provider = Provider.AGENTOS
    supports_email_lookup = False
    supports_update = False

    def __init__(self, connection: CrmConnection, *, client: AgentOsClient | None = None) -> None:
        super().__init__(connection)
        self.client = client or AgentOsClient(connection)

    def verify(self) -> VerifyResult:
        branches = self.client.list_branches(count=100)
        items = branches.get("Data", branches) if isinstance(branches, dict) else branches
        ids = [str(item.get("OID") or item.get("ID") or "") for item in items or [] if isinstance(item, dict)]
        branch_id = str((self.connection.config or {}).get("branch_id") or "")
        detail = f"agentOS answered for {self.client.setting('short_name')}"
        if branch_id and ids and branch_id not in ids:
            detail += f"; warning: branch {branch_id} is not among the company's branches"
        return VerifyResult(provider=self.provider, detail=detail, extra={"branches": len(ids)})

    def get_contact(self, external_id: str) -> RemoteContact:
        return RemoteContact(external_id=external_id, contact=None)

    def find_contact_by_email(self, email: str) -> RemoteContact | None:
        return None

    def create_contact(self, contact: CrmContact) -> str:
        body = mapping.application_body(
            contact, branch_id=self.client.setting("branch_id"), message=mapping.new_contact_message(contact)
        )
        answer = self.client.create_tenancy_application(body)
        return mapping.external_id_from_answer(answer, email=contact.email)

    def update_contact(self, remote: RemoteContact, contact: CrmContact) -> None:
        """agentOS updates are not implemented (see the module docstring); `supports_update` is False."""
        raise NotImplementedError("agentOS prospect updates are not supported by this adapter")

    def add_note(self, external_id: str, note: CrmNote, *, contact: CrmContact) -> str | None:
        # The application is addressed by email, which agentOS links to the existing prospect.
        body = mapping.application_body(
            contact, branch_id=self.client.setting("branch_id"), message=mapping.note_message(note)
        )
        self.client.create_tenancy_application(body)
        return None

    def close(self) -> None:
        self.client.close()
