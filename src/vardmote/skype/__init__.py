"""Skype migration: find Skype meetings after the cut-off in a calendar export and rebook them."""
