"""Guards against losing the user's work: where output may go, --in-place, interrupts."""
