"""Invoices and payments need no endpoints of their own: the registry's generic ones serve them."""
