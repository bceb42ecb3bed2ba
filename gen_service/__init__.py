"""tracegen generation service."""
