"""The claims a dispatcher holds: one lease per queue item in flight, shared by its threads under one lock.

The claim loop adds what it claims (`hold`), the step loop looks a lease up, marks it answered and lets it go,
the heartbeat renews them all, and a graceful stop hands back the ones still waiting for an answer. The spare
slot (claims.py `queue_claim`) is the one item allowed beyond `max_in_flight`, for a key queue with nothing in
flight: with every slot busy on one tenant's backlog, another tenant's run still starts at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from .executor import Lease
from .services.claims import ClaimedItem


class InFlight:
    def __init__(self, *, lease_seconds: float) -> None:
        self.lease_seconds = lease_seconds
        self._lock = threading.Lock()
        self._leases: dict[int, Lease] = {}  # by item id: its current lease token and expiry by this clock
        self._spare_item: int | None = None

    def __getitem__(self, item_id: int) -> Lease:
        with self._lock:
            return self._leases[item_id]

    def free_slots(self, max_in_flight: int) -> tuple[int, int]:
        """(free regular slots, 1 if the spare slot is free else 0): the spare item does not use a regular slot."""
        with self._lock:
            spare_busy = self._spare_item is not None
            return max_in_flight - (len(self._leases) - (1 if spare_busy else 0)), 0 if spare_busy else 1

    def hold(self, items: Iterable[ClaimedItem], *, token: str, expires: float) -> list[ClaimedItem]:
        """Take the leases of a claim; returns the items whose request is to be started.

        An item whose lease ran out while its request was still in flight here, and that this claim took again,
        is not started twice: the request in flight carries on under the new token (if it had not reached the SDK
        yet, the fence refuses it and the dispatcher releases the item). A request for an older generation (the
        item moved on meanwhile) is never adopted: its answer would be applied to a newer step; it is refused
        instead, and this claim sends anew.
        """
        started = []
        with self._lock:
            for item in items:
                held = self._leases.get(item.id)
                if held is not None and not held.answered and held.generation == item.generation:
                    held.token, held.expires = token, expires
                    continue
                self._leases[item.id] = Lease(token, expires, generation=item.generation)
                if item.spare:
                    self._spare_item = item.id
                elif self._spare_item == item.id:
                    self._spare_item = None
                started.append(item)
        return started

    def let_go(self, item_id: int, lease: Lease) -> None:
        """Stop holding an item (its answer is stored): a claim from now on starts a request of its own."""
        with self._lock:
            if self._leases.get(item_id) is lease:
                del self._leases[item_id]
                if self._spare_item == item_id:
                    self._spare_item = None

    def answered(self, lease: Lease) -> str:
        """The request is over: its answer goes under the token the lease has now (a claim made while the request
        was in flight took it over); the lease is renewed until the answer is stored (see `Lease.answered`)."""
        with self._lock:
            lease.answered = True
            return lease.token

    def fresh(self, lease: Lease) -> bool:
        """Whether the lease is still held by this process's clock, with a margin for the send."""
        with self._lock:
            return time.monotonic() < lease.expires - min(1.0, self.lease_seconds / 10)

    def holding(self, *, answered: bool | None) -> bool:
        """Whether any lease is held (None), or any whose request is over (True) or still waiting (False)."""
        with self._lock:
            return any(answered is None or lease.answered == answered for lease in self._leases.values())

    def tokens(self, *, waiting_only: bool = False) -> dict[int, str]:
        """Each held item's current lease token (only those whose request is still waiting, if `waiting_only`)."""
        with self._lock:
            return {
                item_id: lease.token for item_id, lease in self._leases.items() if not (waiting_only and lease.answered)
            }

    def renewed(self, kept: Iterable[int], *, held: dict[int, str], at: float) -> None:
        """The heartbeat renewed `kept` (of `held`, read at monotonic time `at`): extend the leases that still have
        the token it renewed (a claim may have taken one over meanwhile, with an expiry of its own)."""
        with self._lock:
            for item_id in kept:
                lease = self._leases.get(item_id)
                if lease is not None and lease.token == held[item_id]:
                    lease.expires = max(lease.expires, at + self.lease_seconds)
