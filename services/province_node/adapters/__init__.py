"""Translations between the node and the outside: SQL views, the journal, contract events, NATS."""
