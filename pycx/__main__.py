"""`python -m pycx`: the command line (`pycx.cli`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
