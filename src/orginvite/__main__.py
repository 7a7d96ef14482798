import sys

from orginvite.cli import main

sys.exit(main())
