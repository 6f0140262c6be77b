"""Small generic helpers shared by the domains."""
