"""Example workspaces, generated from a seed so they are documented and reproducible.

`driftgate.examples.bank` builds the bank-transaction categorization workspace that the
repository's top-level `prompts/`, `evalsets/` and `routes/` folders hold.
"""
