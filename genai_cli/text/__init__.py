"""Text generation with a causal LM: load, generate, next-token view, attention maps."""
