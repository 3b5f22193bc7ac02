"""The runs API (`/api/v1/runs/`): an agency's background job runs, read-only, for the frontend."""
