"""The local engine: speaks Inngest's protocol to the unchanged SDK, keeps its state in PostgreSQL."""
