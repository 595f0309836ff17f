"""The states of a DashScope async task, as the service spells them.

A task goes PENDING → RUNNING → SUCCEEDED | FAILED, or CANCELED (only while PENDING), or
UNKNOWN (expired after 24 h, or never existed). Shared by the protocol and by history, which
records the last state seen; nothing else lives here, so importing it costs nothing.
"""

from __future__ import annotations

PENDING = "PENDING"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELED = "CANCELED"
UNKNOWN = "UNKNOWN"
FINAL_STATES = frozenset({SUCCEEDED, FAILED, CANCELED, UNKNOWN})
# The final states that leave no images: such a task counts as a failed run.
FAILURE_STATES = frozenset({FAILED, CANCELED, UNKNOWN})
