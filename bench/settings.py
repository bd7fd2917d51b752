"""Settings for the benchmark server: the production settings plus the reference endpoint."""

from rapport.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
