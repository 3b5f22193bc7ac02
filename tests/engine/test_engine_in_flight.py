"""The dispatcher's table of leases in flight (jobs/engine/in_flight.py), alone: no database, no threads."""

from __future__ import annotations

from jobs.engine.in_flight import InFlight
from jobs.engine.services.claims import ClaimedItem


def _item(item_id: int, *, generation: int = 0, spare: bool = False) -> ClaimedItem:
    return ClaimedItem(item_id, run_pk=1, step_id="s", attempt=0, max_attempts=3, generation=generation, spare=spare)


def test_a_claim_of_an_item_whose_request_is_still_in_flight_takes_it_over_instead_of_sending_again():
    table = InFlight(lease_seconds=10)
    (first,) = table.hold([_item(7)], token="d/1", expires=100.0)
    lease = table[7]

    started = table.hold([_item(7)], token="d/2", expires=200.0)  # the lease ran out here and was claimed again

    assert first.id == 7 and started == []
    assert (table[7] is lease, lease.token, lease.expires) == (True, "d/2", 200.0)
    assert table.answered(lease) == "d/2"  # the answer goes under the token it has now


def test_an_answered_or_older_generation_request_is_not_adopted_and_the_claim_sends_anew():
    table = InFlight(lease_seconds=10)
    table.hold([_item(1), _item(2)], token="d/1", expires=100.0)
    table.answered(table[1])

    started = table.hold([_item(1), _item(2, generation=1)], token="d/2", expires=200.0)

    assert [item.id for item in started] == [1, 2]
    assert (table[1].token, table[2].token, table[2].generation) == ("d/2", "d/2", 1)


def test_the_spare_slot_is_outside_the_regular_slots_and_free_again_once_let_go():
    table = InFlight(lease_seconds=10)
    assert table.free_slots(2) == (2, 1)
    table.hold([_item(1), _item(2)], token="d/1", expires=100.0)
    assert table.free_slots(2) == (0, 1)

    table.hold([_item(3, spare=True)], token="d/2", expires=100.0)
    assert table.free_slots(2) == (0, 0)

    table.let_go(3, table[3])
    assert table.free_slots(2) == (0, 1)


def test_let_go_of_a_lease_a_later_claim_replaced_keeps_the_later_one():
    table = InFlight(lease_seconds=10)
    table.hold([_item(1)], token="d/1", expires=100.0)
    old = table[1]
    table.answered(old)
    table.hold([_item(1)], token="d/2", expires=200.0)  # answered, so a new request with a lease of its own

    table.let_go(1, old)

    assert table[1].token == "d/2"
    assert table.tokens() == {1: "d/2"}


def test_the_heartbeat_extends_only_leases_still_under_the_token_it_renewed():
    table = InFlight(lease_seconds=10)
    table.hold([_item(1), _item(2)], token="d/1", expires=5.0)
    held = table.tokens()
    table.hold([_item(2)], token="d/2", expires=7.0)  # item 2 taken over after the heartbeat read the tokens

    table.renewed([1, 2], held=held, at=50.0)

    assert (table[1].expires, table[2].expires) == (60.0, 7.0)
    assert table.tokens(waiting_only=True) == {1: "d/1", 2: "d/2"}
    table.answered(table[1])
    assert table.tokens(waiting_only=True) == {2: "d/2"}
    assert table.holding(answered=True) and table.holding(answered=False) and table.holding(answered=None)
