"""asyncio helpers every long-running part uses (the runtime, the outputs, the notifier): run a
group of coroutines as one, and cancel for sure. A leaf: it imports nothing of firegate."""
