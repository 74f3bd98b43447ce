"""Storage: SQLAlchemy 2 models' base, engines and transactions."""
