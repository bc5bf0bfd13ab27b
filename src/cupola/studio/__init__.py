"""Cupola Studio: the web UI's static files (see cupola.server.studio_routes)."""
