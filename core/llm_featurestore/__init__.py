"""llm-featurestore."""
