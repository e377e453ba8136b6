"""Chat adapters: translate platform events into service calls and render replies."""
