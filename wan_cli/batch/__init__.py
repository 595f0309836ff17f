"""`wan batch`: many prompts from one file, sent in parallel, resumable and shardable."""
