"""Container images: references, registries, and the deterministic image a function becomes."""
