"""From vectors to a described tree: clustering, keywords, the document map, the build pipeline; new documents placed in a built tree."""
