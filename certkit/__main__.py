import sys

from certkit.cli import main

sys.exit(main())
