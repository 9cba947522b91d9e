"""Leaves sleeping processes behind: one in its process group, one in a session of its own.

argv: TOKEN (the sleep duration, unique per test, so the test can find them in /proc)
"""

import os
import sys

token = sys.argv[1]
if os.fork() == 0:
    os.execv("/bin/sleep", ["sleep", token])
if os.fork() == 0:
    os.setsid()  # leaves the process group: only the job's marker finds it
    if os.fork() == 0:
        os.execv("/bin/sleep", ["sleep", token])
    os._exit(0)
print("parent done", flush=True)
