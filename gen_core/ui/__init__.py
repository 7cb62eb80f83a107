"""gen_core.ui."""
