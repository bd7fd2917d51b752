"""The writes of reports: pages, API, commands and jobs all call these."""
