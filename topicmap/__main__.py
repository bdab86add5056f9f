"""``python -m topicmap``: the ``topicmap`` command."""

from topicmap.hierarchy.cli.main import main

main()
