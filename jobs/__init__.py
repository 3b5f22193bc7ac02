"""Background jobs: the event catalogue, validated emission, the policy and the Inngest functions.

Services elsewhere emit through `jobs.emit` only: `from jobs.emit import emit, emit_many`.
"""
