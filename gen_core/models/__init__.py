"""gen_core.models."""
