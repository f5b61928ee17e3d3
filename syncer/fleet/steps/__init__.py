"""The fleet's steps: what a task does, over the engine and the state."""
