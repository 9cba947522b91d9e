"""The LLM stage: client, prompts' tools, cache, splicing replies in, trajectory, settings."""
