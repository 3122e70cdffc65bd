"""The node's HTTP API, one router per resource."""
