"""Talking to a language model: the client, answer cache, settings, prompt templates, prices, answer parsing."""
