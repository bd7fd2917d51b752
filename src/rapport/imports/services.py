"""The writes of imports: pages, API, commands and jobs all call these."""
