import sys

from bugcases.cli import main

sys.exit(main())
