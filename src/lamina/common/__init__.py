"""Shared foundations: errors, typed config, runtime facts and file helpers. Imports nothing of lamina."""
