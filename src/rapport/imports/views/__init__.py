"""Imports pages, one module per page family."""
