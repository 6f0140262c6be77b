"""Vårdmöte: self-hosted protected video meetings in healthcare."""

__version__ = "0.1.0"
