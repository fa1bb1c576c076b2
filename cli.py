"""Run kecpm from a checkout: ``python cli.py --help``."""

from kecpm.cli import main

if __name__ == "__main__":
    main()
