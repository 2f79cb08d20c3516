"""``python -m stylegen``."""
from stylegen.cli import main

if __name__ == "__main__":
    main()
