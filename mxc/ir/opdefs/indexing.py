"""Operators of the indexing family (see docs/OPERATORS.md)."""
from __future__ import annotations
