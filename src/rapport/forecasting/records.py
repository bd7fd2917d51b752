"""Forecasting registers no record type: exchange rates and quotas are settings, reached through their
own pages (``views/``) and endpoints (``api/``), not the generic record paths."""
