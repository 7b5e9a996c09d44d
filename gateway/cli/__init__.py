"""The `firegate` command line: one module per command group; `main` dispatches."""
