"""Foundations every stage uses (errors, progress, untrusted text, bounded JSON); nothing heavy is imported here."""
