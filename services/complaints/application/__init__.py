"""The supervision application (its own decisions, event-sourced), the projection of the
provinces' events, and the watch that turns passed deadlines into decisions."""
