"""Operators of the linalg family (see docs/OPERATORS.md)."""
from __future__ import annotations
