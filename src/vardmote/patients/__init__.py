"""Patients: who a meeting is for, keyed by personnummer or samordningsnummer."""
