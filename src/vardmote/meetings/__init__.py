"""Meetings: meeting types (policy data), booking, recurrence, links, calendar export."""
