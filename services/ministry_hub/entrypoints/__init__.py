"""How ministry staff and tools reach the hub: the national query API and the dashboard."""
