"""One module per command; each has one run_<command>() that cli.py calls."""
