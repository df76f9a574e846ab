"""``python -m dtrack`` runs the command line."""

from dtrack.cli.main import main

if __name__ == "__main__":
    main()
