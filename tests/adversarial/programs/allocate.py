"""Asks for 20 GB at once; without a limit this succeeds on a machine with lazy allocation."""

buffer = bytearray(20 * 2**30)
print(len(buffer))
