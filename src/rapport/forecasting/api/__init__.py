"""API endpoints of exchange rates, quotas and the forecast."""
