"""The teacher stage: Zero-shot-CoT (optionally diverse) from any backend into completion records."""
