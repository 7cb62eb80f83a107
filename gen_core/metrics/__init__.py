"""gen_core.metrics."""
