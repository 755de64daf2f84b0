"""``python -m azfeeds``."""

from azfeeds.cli import main

if __name__ == "__main__":
    main()
