"""Guard decisions on plain summaries of weights (no framework types)."""
