"""Sales: pipelines and stages, deals, products and line items, quotes, currencies, forecasts."""
