"""Command-line edge: `cupola ...` (Typer + Rich)."""
