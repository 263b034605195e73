"""`anpr-device`: the daemon that reads plates on the device (trigger -> burst -> vote -> plate log)."""

__version__ = "0.1.0"
