"""Duplicates pages, one module per page family."""
