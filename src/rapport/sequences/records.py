"""Sequences register no record type of their own (declarations only): enrolments belong to people."""
