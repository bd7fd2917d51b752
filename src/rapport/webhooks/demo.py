"""Webhooks adds nothing to ``rapport demo``: a demo must not send requests anywhere."""
