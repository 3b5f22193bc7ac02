"""Local HTTP servers that behave as each CRM documents (domain.md's CRM table), with state and fault injection."""

from .agentos import FakeAgentOs
from .alto import FakeAlto
from .base import FakeCrm, RecordedRequest
from .loop import FakeLoop
from .reapit import FakeReapit
from .street import FakeStreet

__all__ = ["FakeAgentOs", "FakeAlto", "FakeCrm", "FakeLoop", "FakeReapit", "FakeStreet", "RecordedRequest"]
