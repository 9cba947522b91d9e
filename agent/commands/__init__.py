"""One module per CLI command: argument handling and exit codes around the engine."""
