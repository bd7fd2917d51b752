"""Database-specific wiring."""
