"""Names for every node through an LLM, checked before they are kept; regrouping upper levels by those names."""
