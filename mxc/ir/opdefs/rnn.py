"""Operators of the rnn family (see docs/OPERATORS.md)."""
from __future__ import annotations
