"""Hostile and unlucky inputs (issue 16): each case is a small program of its own."""
