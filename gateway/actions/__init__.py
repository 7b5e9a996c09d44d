"""Actions on devices (cut a socket, trip a breaker): their configuration, the one service
that performs them, and the queue through which the command line asks for them."""
