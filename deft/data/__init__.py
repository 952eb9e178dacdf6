"""Domain builders, prompt formatting and label noise."""
