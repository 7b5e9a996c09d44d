"""The running gateway: the supervisor, the bus pollers, the live view, the process around them."""
