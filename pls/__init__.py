"""Shared runtime of the federation's services (not a contract): settings, bus, storage, telemetry, CLI."""
