"""The database engine: Django's Postgres backend with a client-side deadline (see base.py)."""
