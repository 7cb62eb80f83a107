"""gen_core.viz."""
