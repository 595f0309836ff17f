"""DashScope async tasks: submit now, collect later (`--async`, `wan task …`).

A task's life on the service: PENDING → RUNNING → SUCCEEDED | FAILED, or CANCELED (only a
PENDING task can be cancelled), or UNKNOWN (expired after 24 h, or never existed).

Read the modules in this order (`states` only names the task states, shared with history):
1. `protocol`: the service's side, and nothing of ours: a task answer → `TaskStatus`, its
   final state → the error it stands for, the polling loop (2 s growing to 10 s), and the three
   calls (create, query, cancel) through `client.open_answer`, which retries like any request;
2. `session` (the options every `wan task` command takes, and its settings, API and history)
   and `rows` (a task's history row kept in step with the states it is seen in);
3. the commands built on them: `submit.submit_task` (`wan generate|edit --async`),
   `commands` (`task_status`, `task_cancel`, `task_list`) and `wait.task_wait`.

Exit codes of the final states: SUCCEEDED → the run's (0, or 7 if saving failed); FAILED → the
class of the service's code (`errors.error_from_api`: moderation 4, internal 6, quota 5…);
CANCELED → 4 (the request was withdrawn: nothing was generated, retrying cannot help); UNKNOWN →
4 ("expired or not found"). `wait --timeout` elapsing → 6; Ctrl-C → 130. In both of the last
two cases the task keeps running on the service and the message says how to resume.

History: a submitted task is one run row with its task id and last known state (every query
that sees a new state records it); it shows as `task STATE` until `wan task wait` fills that
same row with the images (through `run_events`, `Job.history_id`), or until the task ends
without images, which ends the row with that state's exit code and `task STATE…` as its error.

Nothing is imported here: `wan --help` stays fast, and each module can be imported on its own.
"""
