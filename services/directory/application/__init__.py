"""Projecting agency, personnel and credit events into the directory."""
