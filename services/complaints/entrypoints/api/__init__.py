"""The supervision API, one router per resource."""
