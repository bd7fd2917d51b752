"""Automation registers no record type of its own (declarations only)."""
