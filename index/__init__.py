"""The catalog (SQLite) and vector index (FAISS) behind search: built in issue #3 and #4."""
