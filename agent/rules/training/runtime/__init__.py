"""NumPy-only stand-ins for Keras utilities, inlined into converted scripts (see inline.py)."""
