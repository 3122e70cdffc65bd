"""The directory's read model in SQLite or PostgreSQL, and the queries over it."""
