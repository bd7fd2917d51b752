"""Webhooks pages (Settings → Webhooks), for settings managers."""
