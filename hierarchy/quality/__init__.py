"""How good is a tree: reference agreement, navigation by labels, the reports."""
