"""REST API /api/v1/, generated from the record-type registry."""
