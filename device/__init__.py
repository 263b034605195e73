"""`anpr-device`: the daemon that reads plates on the device (trigger -> burst -> vote -> plate log)."""

from anpr import __version__  # noqa: F401  one distribution (setup.py), one version
