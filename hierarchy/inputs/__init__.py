"""Documents and their vectors in: tables, embedders and their cache, time columns, checks on vectors."""
