"""Outgoing webhooks (DESIGN.md §13): subscriptions, deliveries signed per Standard Webhooks, retries, the log."""
