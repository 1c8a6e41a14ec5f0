"""The pure core: license arithmetic and payloads. No I/O, no clock, no configuration files."""
