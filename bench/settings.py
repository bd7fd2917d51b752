"""Settings for the benchmark server: the production settings plus the reference endpoint."""

from rapport.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

# Benchmarks write faster than the default API limit (6,000 a minute) allows: every request is still counted
# (the limit's upsert is part of what is measured), against a limit no run reaches.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "10000000/min"}}  # noqa: F405
