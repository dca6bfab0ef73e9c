"""Tests for lookalike.embed."""
