import sys

from bgremove.cli import main

sys.exit(main())
