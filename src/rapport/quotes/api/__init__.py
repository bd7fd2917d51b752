"""API endpoints of quotes."""
