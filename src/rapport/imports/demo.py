"""Imports adds nothing to ``rapport demo``."""
