"""reapit CRM adapter package: client.py (HTTP), mapping.py (pure JSON mapping), adapter.py (the interface)."""
