"""The directory's public HTTP API."""
