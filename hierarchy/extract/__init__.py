"""LLM notes per document and facet, written back as new columns."""
