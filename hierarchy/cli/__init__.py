"""The ``topicmap`` command line: one module per command group; the only place that reads the environment."""
