"""Users, teams, roles, API tokens and login protection."""
