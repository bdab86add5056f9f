"""topicmap's pipeline: documents in, a recursive topic tree out."""

__version__ = "0.1.0"
