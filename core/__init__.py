"""The ground floor every layer may import: the error family, the TOML reader, units.

It imports nothing else of the project, so it can never be part of an import cycle."""
