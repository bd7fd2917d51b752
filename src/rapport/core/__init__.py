"""Shared mechanisms: record-type registry, write services and events, visibility, custom fields, search."""
