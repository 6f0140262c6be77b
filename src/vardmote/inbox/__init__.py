"""The patient inbox (an embedded "1177"): sign-in, messages, booked times, acting as ombud."""
