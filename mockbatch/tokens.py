"""The token estimate: one token per four characters of text, rounded up.

A leaf module (nothing from mockbatch, no Faker) so that the validator and `mockbatch validate`, which
estimate a file's input tokens, load no generator. The generators count with it too (generators/base.py).
"""

from __future__ import annotations


def estimate_tokens(text: str) -> int:
    """The documented estimate: one token per four characters, rounded up, at least one for non-empty text."""
    return (len(text) + 3) // 4
