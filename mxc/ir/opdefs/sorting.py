"""Operators of the sorting family (see docs/OPERATORS.md)."""
from __future__ import annotations
