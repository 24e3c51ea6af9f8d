"""Test helpers that ship with ftcot: a fault-injecting OpenAI-compatible server."""
