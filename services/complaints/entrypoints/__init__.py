"""The national supervision API."""
