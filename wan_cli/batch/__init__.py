"""`wan batch`: many prompts from one file, sent in parallel, resumable and shardable.

Read the modules in this order; each step is a function of the one before:
1. `parse`: JSONL objects or plain-text prompts → `LineSpec`s, every problem with its line
   number (pure);
2. `items`: each line + the command-line defaults → a validated request (`BatchItem`) and its
   key, a hash of the normalised request;
3. `plan`: the shard (`--shard i/n`), then what the `manifest` and history (`rescue`) say is
   already done or paid for (`Resume`), then how many requests and at most how many images
   (the cost guard);
4. `runner`: N worker threads share one `pacing.BatchPacer`; each line is an ordinary run (or,
   paid for by a killed run, its recorded images saved: `rescue`) whose `outcome` is appended
   to the `manifest` the moment it ends, and shown by `views`;
5. `report`: the summary and the `--json` document; the exit code is the most severe class that
   occurred (`outcome.SEVERITY`).
`command.execute_batch` ties them to the command line. Nothing is imported here: `wan --help`
stays fast, and each step can be imported on its own.
"""
