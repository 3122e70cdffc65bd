"""The hub's HTTP API, one router per resource."""
