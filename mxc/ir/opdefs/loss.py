"""Operators of the loss family (see docs/OPERATORS.md)."""
from __future__ import annotations
