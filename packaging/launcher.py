"""Entry script of the PyInstaller bundle: the same ``sslstudio`` command as the installed package."""

import multiprocessing
import sys

from sslstudio.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # worker processes started with spawn re-enter this script
    sys.exit(main())
