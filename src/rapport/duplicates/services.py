"""The writes of duplicates: pages, API, commands and jobs all call these."""
