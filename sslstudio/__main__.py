import sys

from sslstudio.cli import main

sys.exit(main())
