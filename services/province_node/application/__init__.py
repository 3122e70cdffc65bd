"""The node's application services: the event-sourced application and its publication projection."""
