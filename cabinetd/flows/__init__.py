"""The rent, return and inspection flows: what the cabinet does between a badge and a locked door."""
