"""Skeleton; see its issue."""
