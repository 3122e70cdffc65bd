"""Consuming the federation's streams exactly once: what the hub, the directory and the
complaints service share.

- `intake`: every delivery checked, ordered per source, deduplicated, held behind gaps;
- `tracking`: each source's position, running hash and dead letters, stored with the read model;
- `streams`: durable pull consumers positioned by that tracking;
- `backfill`: fetching what the bus lost from a province node's journal;
- `applier`: the loop that ties them together and writes one transaction per batch.
"""
