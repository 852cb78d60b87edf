"""A test plugin: a provider `testplug/...`, a scorer `always-pass-plugin`, a drift signal
`plugin_output_length`. Each module registers through driftgate's public registries."""
