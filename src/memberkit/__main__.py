"""``python -m memberkit`` runs the CLI."""

from memberkit.cli.main import main

main()
