"""End-to-end tests: Debian's Chromium against a running ``vardmote serve``."""
