"""One module per ``leg3dus`` command; each registers itself with ``cli.app.command``."""
