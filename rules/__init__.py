"""Pure safety rules: samples and device metadata in, events out. No I/O, no clock."""
