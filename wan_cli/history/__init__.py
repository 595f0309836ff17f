"""History: every request `wan` sends and what came back, in one SQLite database.

Rules this package owns:
- a run's row is written when its request is sent and updated as events arrive; image URLs are
  recorded before their downloads start, so a crash or `kill -9` never loses a paid result;
- it never blocks a run: when the database is locked, corrupt or newer than this `wan`, a run
  warns once on stderr and goes on without history (`Store` write methods never raise);
- never the API key, never base64: references are small descriptors (`RefImage.describe`).

Read the modules in this order:
1. `rows`: `RunRow`, `ImageRow`, run statuses, times, and decoding the database's rows;
2. `schema`: the migrations (`PRAGMA user_version`, append only) and `connect`;
3. `recorder`: the writes during a run (never raise); `store`: `Store` (those writes plus the
   queries of `wan history`), `history_path`, `open_store`, `open_existing`;
4. `replay`: a recorded run's arguments again (`rerun`) and why a link expired (`download`);
5. `recover`: `wan history download` and `wan batch`'s rescue of lines a killed run was paid
   for (`rescue_images`; imported on its own: it pulls in the run machinery).

`sqlite3` is imported where it is used: `wan --help` must not pay for it.
`replay` is imported from its module (`wan_cli.history.replay`), not from here: a run that
records history does not replay one.
"""

from __future__ import annotations

from wan_cli.history.rows import (
    RUNNING,
    STATUSES,
    TASK,
    UNFINISHED,
    ImageRow,
    RunRow,
    format_time,
    parse_before,
    parse_time,
    pid_alive,
    resolve_image_path,
    status_for,
)
from wan_cli.history.schema import SCHEMA_VERSION, NewerSchema, migrate
from wan_cli.history.store import ENV_HISTORY, Store, history_path, open_existing, open_store

__all__ = [
    "ENV_HISTORY",
    "RUNNING",
    "SCHEMA_VERSION",
    "STATUSES",
    "TASK",
    "UNFINISHED",
    "ImageRow",
    "NewerSchema",
    "RunRow",
    "Store",
    "format_time",
    "history_path",
    "migrate",
    "open_existing",
    "open_store",
    "parse_before",
    "parse_time",
    "pid_alive",
    "resolve_image_path",
    "status_for",
]
