"""The event catalogue: one class per event, its name as a class attribute, its payload as the model's fields.

Names follow `<domain>/<action>`: lowercase, the action made of dot-separated segments, hyphens allowed inside a
segment, `inngest/` reserved. The rule is checked when a class is defined, so a bad name fails at import.
On the wire payloads are camelCase (`tenantId`); in Python they are snake_case (`tenant_id`).

Versions: each event has an integer `version` (1 until its first breaking change), sent as Inngest's envelope
field `v` ("1", "2", ...; an event without `v` is version 1). A class at version n keeps `upcasters[k]` for every
k < n, each turning a version-k wire payload into version k+1, so a stored or in-flight payload of any age is
upcast to the current model before it is validated (docs/events.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal, Self
from uuid import UUID

import inngest
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

from tenants.categories import Category


def _iso_datetime_only(value: object) -> object:
    """The contract's datetimes are ISO-8601 strings; a bare number (epoch seconds?) is a malformed payload."""
    if isinstance(value, int | float | bool):
        raise ValueError("expected an ISO-8601 datetime string with a timezone")
    return value


# The pattern says in the contract what strip_whitespace + min_length do here: some character that is not blank.
NonEmptyStr = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1), Field(json_schema_extra={"pattern": r"\S"})
]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_datetime_only)]
Score = Annotated[StrictInt, Field(ge=0, le=100)]
PositiveId = Annotated[StrictInt, Field(gt=0)]
#: Where a category assignment came from: an agent (manual, api, admin) or bulk work (csv-import, crm).
AssignmentSource = Literal["manual", "api", "admin", "csv-import", "crm"]

_DOMAIN = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"
_SEGMENT = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"
_NAME = re.compile(rf"^{_DOMAIN}/{_SEGMENT}(?:\.{_SEGMENT})*$")
RESERVED_DOMAINS = frozenset({"inngest"})


class EventNameError(TypeError):
    """An event class was defined with a name that breaks the `<domain>/<action>` rule, or twice."""


def check_event_name(name: object) -> str:
    """Return `name` if it follows the naming rule; otherwise raise EventNameError saying which rule it broke."""
    if not isinstance(name, str) or not name:
        raise EventNameError("an event needs a non-empty string `name`")
    if name != name.lower():
        raise EventNameError(f"{name!r}: event names are lowercase")
    if name.count("/") != 1:
        raise EventNameError(f"{name!r}: an event name is `<domain>/<action>` with exactly one '/'")
    domain = name.split("/")[0]
    if domain in RESERVED_DOMAINS:
        raise EventNameError(f"{name!r}: the {domain!r} domain is reserved for Inngest's own events")
    if not re.fullmatch(_DOMAIN, domain):
        raise EventNameError(
            f"{name!r}: the domain must start with a letter and hold only letters, digits and inner hyphens"
        )
    if not _NAME.match(name):
        raise EventNameError(
            f"{name!r}: the action is dot-separated segments, each starting with a letter, "
            "with letters, digits and hyphens only inside a segment"
        )
    return name


class EventVersionError(ValueError):
    """A payload's version cannot be brought to the current model (not a version, or no upcaster could)."""


class EventVersionTooNew(EventVersionError):
    """The event is of a version this code does not know yet: during a rolling deploy, a retry may meet newer code."""


#: Turns one version's wire payload (camelCase dict) into the next version's.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def parse_version(value: object) -> int:
    """The version an envelope's `v` names: missing or empty is 1; otherwise a positive integer, as "2" or 2."""
    if value is None or value == "":
        return 1
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise EventVersionError(f"event version {value!r} is not a positive integer")
    return int(text)


def event_version(event: inngest.Event) -> object:
    """The `v` of an incoming event: the SDK's Event model has no such field, so it survives only as an extra."""
    return getattr(event, "v", None) or (event.model_extra or {}).get("v")


def _contains_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(key) or _contains_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_nul(item) for item in value)
    return False


CATALOGUE: dict[str, type[Event]] = {}


class Event(BaseModel):
    """Base of every event: a validated, immutable payload that always carries the tenant."""

    name: ClassVar[str]
    #: The payload's version; bump it (with an upcaster) for a breaking change: docs/events.md.
    version: ClassVar[int] = 1
    #: upcasters[k] turns a version-k payload into version k+1; one for every k below `version`.
    upcasters: ClassVar[Mapping[int, Upcaster]] = {}

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    tenant_id: UUID

    @model_validator(mode="before")
    @classmethod
    def _no_nul_characters(cls, data: Any) -> Any:
        """PostgreSQL cannot store NUL in text or JSON: refuse it here rather than fail deep inside a job."""
        if _contains_nul(data):
            raise ValueError("text must not contain NUL (\\x00) characters")
        return data

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            return  # an intermediate base class, not an event
        check_event_name(cls.name)
        missing = [k for k in range(1, cls.version) if k not in cls.upcasters]
        if not isinstance(cls.version, int) or cls.version < 1 or missing:
            raise EventVersionError(
                f"{cls.name!r} at version {cls.version!r} needs a positive integer version and an upcaster "
                f"from each older version; missing from {missing}"
            )
        existing = CATALOGUE.get(cls.name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise EventNameError(f"{cls.name!r} is already defined by {existing.__module__}.{existing.__qualname__}")
        CATALOGUE[cls.name] = cls

    @classmethod
    def from_inngest(cls, event: inngest.Event) -> Self:
        """The typed payload of an incoming Inngest event (functions never touch raw dicts)."""
        if event.name != cls.name:
            raise ValueError(f"expected a {cls.name!r} event, got {event.name!r}")
        return cls.model_validate(cls.upcast(dict(event.data), event_version(event)))

    @classmethod
    def upcast(cls, payload: Mapping[str, Any], version: object) -> dict[str, Any]:
        """A wire payload of `version` (an envelope's `v`) as the current version's wire payload, not validated."""
        start = parse_version(version)
        if start > cls.version:
            raise EventVersionTooNew(f"{cls.name!r} version {start} is newer than this catalogue's {cls.version}")
        data = dict(payload)
        for older in range(start, cls.version):
            data = cls.upcasters[older](data)
        return data

    def to_wire(self) -> dict[str, Any]:
        """The JSON payload as sent to Inngest: camelCase keys, ISO datetimes, UUID strings."""
        return self.model_dump(mode="json", by_alias=True)


def event_type(name: str) -> type[Event]:
    """The event class for a name; KeyError lists the known names."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise KeyError(f"unknown event {name!r}; known events: {', '.join(sorted(CATALOGUE))}") from None


class NurtureSequenceGenerate(Event):
    """Generate the three-email nurture sequence for a contact in its category, in the agency's voice.

    It carries the assignment it answers: one assignment yields at most one sequence (the function's
    idempotency key), a newer assignment of the contact cancels it, and its `source` sets its priority.
    """

    name: ClassVar[str] = "nurture/sequence.generate"

    contact_id: UUID
    category: Category
    brand_voice: NonEmptyStr
    assignment_id: PositiveId
    source: AssignmentSource
    triggered_at: Timestamp


class ContactCategoryAssigned(Event):
    """A contact was put into one of the twelve categories (first time or re-categorised)."""

    name: ClassVar[str] = "contact/category.assigned"

    contact_id: UUID
    category: Category
    previous_category: Category | None = None
    assignment_id: PositiveId
    assigned_by: PositiveId | None = None
    source: AssignmentSource
    assigned_at: Timestamp


class CrmSyncPush(Event):
    """Push a contact and/or a sequence summary note to the tenant's connected CRM."""

    name: ClassVar[str] = "crm/sync.push"
    # The contract's statement of `_something_to_push` (JSON Schema if/then; the corpus test keeps them agreeing).
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"type": "object", "properties": {"pushContact": {"const": False}}, "required": ["pushContact"]},
            "then": {
                "type": "object",
                "properties": {"sequenceId": {"type": "string"}},
                "required": ["sequenceId"],
                "description": "nothing to push: set pushContact or give a sequenceId",
            },
        }
    )

    contact_id: UUID
    push_contact: StrictBool = True
    sequence_id: UUID | None = None
    requested_at: Timestamp

    @model_validator(mode="after")
    def _something_to_push(self) -> Self:
        if not self.push_contact and self.sequence_id is None:
            raise ValueError("nothing to push: set pushContact or give a sequenceId")
        return self


class LeadIntentScore(Event):
    """Re-score a contact's intent after new engagement (or a decay or manual recalculation)."""

    name: ClassVar[str] = "lead/intent.score"
    # The contract's statement of `_engagement_needs_its_event` (see CrmSyncPush).
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"type": "object", "properties": {"reason": {"const": "engagement"}}, "required": ["reason"]},
            "then": {
                "type": "object",
                "properties": {"engagementEventId": {"type": "string"}},
                "required": ["engagementEventId"],
                "description": "reason 'engagement' needs engagementEventId",
            },
        }
    )

    contact_id: UUID
    reason: Literal["engagement", "decay", "recalculate"]
    engagement_event_id: UUID | None = None
    occurred_at: Timestamp

    @model_validator(mode="after")
    def _engagement_needs_its_event(self) -> Self:
        if self.reason == "engagement" and self.engagement_event_id is None:
            raise ValueError("reason 'engagement' needs engagementEventId")
        return self


class AlertHotLeadFire(Event):
    """A contact crossed the tenant's hot threshold: alert the assigned agent."""

    name: ClassVar[str] = "alert/hot-lead.fire"

    contact_id: UUID
    score: Score
    threshold: Annotated[StrictInt, Field(ge=1, le=100)]
    fired_at: Timestamp

    @model_validator(mode="after")
    def _score_reaches_threshold(self) -> Self:
        if self.score < self.threshold:
            raise ValueError(f"score {self.score} is below the threshold {self.threshold}")
        return self
