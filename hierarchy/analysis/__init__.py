"""Reading finished trees: topics over time, node x node tables of two trees, facet trees taken together."""
