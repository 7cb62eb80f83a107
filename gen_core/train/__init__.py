"""gen_core.train."""
