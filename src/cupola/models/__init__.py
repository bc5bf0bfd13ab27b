"""What models exist and where their files are: catalog, store, sources."""
