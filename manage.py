"""Manage the users service: ``python manage.py --help``."""

import sys

from ops.cli import main

if __name__ == "__main__":
    sys.exit(main())
