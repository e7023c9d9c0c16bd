"""`python -m moreweb`: the same as the `moreweb` console script; nothing else lives here."""

from moreweb.cli import main

main()
