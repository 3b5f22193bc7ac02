"""The provider-neutral CRM interface: the data classes and the adapter contract every CRM package implements.

The job layer and `crm_adapters.services` only ever see these types; nothing outside a provider package sees a
CRM's raw JSON (house style rule 8). Every adapter method raises only the classes in `crm_adapters.errors`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from tenants.models import Contact

    from .models import CrmConnection


class MarketingConsent(StrEnum):
    """Marketing consent as every CRM can hold it; our `pending` is not consent yet, so it maps to unknown."""

    GRANTED = "granted"
    DENIED = "denied"
    UNKNOWN = "unknown"


class NoteKind(StrEnum):
    SEQUENCE_SUMMARY = "sequence-summary"
    SCORE_CHANGE = "score-change"
    HOT_LEAD = "hot-lead"
    OTHER = "other"


@dataclass(frozen=True)
class CrmContact:
    """A contact as we send it to (or read it from) a CRM; `address` is free text, one line per address line."""

    first_name: str
    last_name: str
    email: str
    phones: tuple[str, ...] = ()
    address: str = ""
    marketing_consent: MarketingConsent = MarketingConsent.UNKNOWN
    category: str = ""
    # Our Contact's id: some CRMs keep it as a reference, and it makes the sync log traceable.
    internal_id: str = ""

    @classmethod
    def from_contact(cls, contact: Contact) -> CrmContact:
        """The neutral form of one of our contacts."""
        consent = {
            "granted": MarketingConsent.GRANTED,
            "denied": MarketingConsent.DENIED,
        }.get(contact.consent_status, MarketingConsent.UNKNOWN)
        return cls(
            first_name=contact.first_name.strip(),
            last_name=contact.last_name.strip(),
            email=contact.email.strip(),
            phones=(contact.phone.strip(),) if contact.phone.strip() else (),
            address=contact.address.strip(),
            marketing_consent=consent,
            category=contact.category or "",
            internal_id=str(contact.pk),
        )

    @property
    def address_lines(self) -> list[str]:
        return [line.strip() for line in self.address.replace(",", "\n").splitlines() if line.strip()]


@dataclass(frozen=True)
class RemoteContact:
    """A contact that exists in the CRM: its id there, what the CRM holds (when it lets us read it), its eTag."""

    external_id: str
    # None when the CRM offers no read of the record (agentOS): then nothing is ever filled in or updated.
    contact: CrmContact | None = None
    etag: str | None = None


@dataclass(frozen=True)
class CrmNote:
    """A note/activity on a contact: a sequence summary, a score change or a hot-lead flag.

    `key` identifies the note for de-duplication (e.g. "sequence:<id>"): a note whose key was already written
    successfully to this connection is not written again when a step is retried.
    """

    kind: NoteKind
    subject: str
    body: str
    key: str = ""

    @property
    def text(self) -> str:
        return f"{self.subject}\n\n{self.body}".strip() if self.subject else self.body.strip()


@dataclass(frozen=True)
class VerifyResult:
    """What a successful connection check found (a failed one raises a CrmError instead)."""

    provider: str
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PushOutcome = Literal["created", "updated", "found"]
PushVia = Literal["map", "email", "conflict", "create"]


@dataclass(frozen=True)
class PushResult:
    """The outcome of `crm_push_contact`: JSON-able via `to_dict()` for step output."""

    external_id: str
    outcome: PushOutcome
    via: PushVia
    provider: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class NoteResult:
    """The outcome of `crm_add_note`; `skipped` means a note with the same key was already written."""

    contact_external_id: str
    note_external_id: str | None
    skipped: bool
    provider: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def contact_fill_blanks(*, remote: CrmContact, ours: CrmContact) -> CrmContact | None:
    """Ours merged into what the CRM holds, filling only its blanks (the CRM wins on contact fields).

    Returns None when there is nothing to fill, so an unchanged contact costs no write.
    """
    merged = replace(
        remote,
        first_name=remote.first_name or ours.first_name,
        last_name=remote.last_name or ours.last_name,
        email=remote.email or ours.email,
        phones=remote.phones or ours.phones,
        address=remote.address or ours.address,
        marketing_consent=(
            ours.marketing_consent if remote.marketing_consent == MarketingConsent.UNKNOWN else remote.marketing_consent
        ),
        # The category is NurtureHub's own field: ours wins where the CRM can hold it.
        category=ours.category or remote.category,
        internal_id=ours.internal_id,
    )
    comparable = replace(merged, internal_id=remote.internal_id)
    return None if comparable == remote else merged


class CrmAdapter(ABC):
    """One CRM behind the interface the job layer uses. Build it with `crm_adapters.factory.adapter_for`.

    Adapters are cheap, hold one HTTP client (close them, or use them as a context manager) and are not shared
    between threads. All methods raise only `crm_adapters.errors.CrmError` subclasses.
    """

    provider: ClassVar[str]
    #: False when the CRM has no documented search by email (agentOS de-duplicates by email on its own).
    supports_email_lookup: ClassVar[bool] = True
    #: False when the CRM documents no update of a contact we can use; an existing record is then left as it is.
    supports_update: ClassVar[bool] = True

    def __init__(self, connection: CrmConnection) -> None:
        self.connection = connection

    @abstractmethod
    def verify(self) -> VerifyResult:
        """Check credentials and configuration with one cheap authenticated call; raise a CrmError if they fail."""

    @abstractmethod
    def get_contact(self, external_id: str) -> RemoteContact:
        """The contact with this id in the CRM; CrmNotFound if it was deleted there."""

    @abstractmethod
    def find_contact_by_email(self, email: str) -> RemoteContact | None:
        """The CRM's contact with this email (case-insensitive), or None."""

    @abstractmethod
    def create_contact(self, contact: CrmContact) -> str:
        """Create the contact and return its id; CrmConflict(existing_id=...) when the CRM says it is a duplicate."""

    @abstractmethod
    def update_contact(self, remote: RemoteContact, contact: CrmContact) -> None:
        """Write `contact` (already merged with what the CRM holds) over the record `remote` describes."""

    @abstractmethod
    def add_note(self, external_id: str, note: CrmNote, *, contact: CrmContact) -> str | None:
        """Attach the note to the contact (`contact` is ours, for CRMs that address notes by person);
        returns the note's id in the CRM when it gives one."""

    def holds_category(self, category: str) -> bool:
        """Whether this CRM can store our category on the contact (otherwise it only travels in notes)."""
        return False

    def close(self) -> None:  # noqa: B027 - optional hook: adapters without an HTTP client need not close
        """Release the HTTP client."""

    def __enter__(self) -> CrmAdapter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
