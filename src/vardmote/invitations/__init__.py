"""Invitations: calendar invitations to professionals, and the guard that keeps personal data out of them."""
