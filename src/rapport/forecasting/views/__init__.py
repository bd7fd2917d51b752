"""Pages of the forecast and the exchange-rate and quota settings."""
