"""Quotes: products and their prices, line items, quotes with their lines, numbering and PDF."""
