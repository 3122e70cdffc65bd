"""The hub's application services: intake of deliveries and the national projection."""
