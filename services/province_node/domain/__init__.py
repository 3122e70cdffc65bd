"""The province's domain model: aggregates, their events and the rules they guard."""
