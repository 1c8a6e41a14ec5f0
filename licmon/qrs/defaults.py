"""The QRS client's defaults, written once: the config schema uses them too.

A module of its own, importing nothing, so that reading a config does not load requests.
"""

DEFAULT_USER_HEADER = "UserDirectory=INTERNAL; UserId=sa_repository"
DEFAULT_PORT = 4242
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0
