"""Tools: schemas, the tool-call adapter that works on every model, tool-aware chat."""
