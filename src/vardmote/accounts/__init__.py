"""Accounts: organisations, clinics, staff, sign-in and sessions."""
