"""Automation pages (Settings → Automation), for settings managers."""
