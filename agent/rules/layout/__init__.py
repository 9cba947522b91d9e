"""Layout of a converted file: where its script statements go (``main_guard.py``)."""
