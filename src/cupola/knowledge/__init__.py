"""Knowledge bases: documents in, hybrid retrieval (SQLite FTS5 BM25 + dense vectors) and grounded answers out."""
