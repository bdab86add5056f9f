"""topicmap's pipeline: documents in, a recursive topic tree out. Imported as ``topicmap.hierarchy``.

One sub-package per job (docs/architecture.md has a line per module): ``base`` and ``files`` at the
bottom, then ``inputs``, ``llm``, ``tree``, ``builder``, ``labels``, ``extract``, ``quality``, ``analysis``,
and ``cli`` on top.
"""

__version__ = "0.1.0"
