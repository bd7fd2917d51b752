"""Forecasting: exchange rates, conversion to the base currency, quotas and the forecast."""
