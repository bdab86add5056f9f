"""``python -m hierarchy`` from a checkout (and ``python -m topicmap.hierarchy``): the ``topicmap`` command."""

from topicmap.hierarchy.cli.main import main

main()
