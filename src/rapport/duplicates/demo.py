"""Duplicates adds nothing to ``rapport demo``."""
