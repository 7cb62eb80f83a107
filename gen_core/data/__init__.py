"""gen_core.data."""
