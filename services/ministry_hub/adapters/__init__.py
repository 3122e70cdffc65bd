"""The hub's adapters: the national read model in SQL, NATS consumers, the backfill client."""
