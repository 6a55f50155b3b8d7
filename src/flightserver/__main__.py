"""`python -m flightserver` runs the CLI."""

from flightserver.cli import main

main()
