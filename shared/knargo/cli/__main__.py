import sys

from knargo.cli import main

sys.exit(main())
