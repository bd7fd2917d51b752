"""Standard sales reports, the report builder over every registered type, and dashboards."""
