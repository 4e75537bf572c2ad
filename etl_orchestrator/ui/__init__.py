"""The Reflex console: shared states, the page frame, components and one module per page."""
