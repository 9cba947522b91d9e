"""Sleeps far longer than any test waits (wall time, no CPU)."""

import time

time.sleep(600)
