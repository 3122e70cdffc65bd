"""A province node: the province's event-sourced system of record for cases, complaints and agencies."""
