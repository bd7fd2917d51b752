"""The former sales app, kept only for its migration history: its models moved to ``rapport.deals``,
``rapport.quotes`` and ``rapport.forecasting`` (same tables), see ``migrations/0008_split.py``."""
