"""DashScope async tasks (`--async`, `wan task …`); being split into `protocol` and `flows`."""

from wan_cli.tasks.protocol import *  # noqa: F403  (until the split: callers import from here)
