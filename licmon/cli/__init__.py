"""The ``licmon`` command line."""
