"""HTTP edge: OpenAI-compatible and native routes over the runtime."""
