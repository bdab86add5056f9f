"""The topic tree, its file format, and what is read straight off a tree (summaries, its embedder)."""
