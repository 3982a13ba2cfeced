"""Operators of the nn_layers family (see docs/OPERATORS.md)."""
from __future__ import annotations
