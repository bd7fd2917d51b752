"""Pages of quotes and line items."""
