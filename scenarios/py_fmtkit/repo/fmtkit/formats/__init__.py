"""Output formats loaded on demand by fmtkit.registry."""
