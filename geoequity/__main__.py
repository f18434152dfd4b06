"""``python -m geoequity`` is the same as the ``geoequity`` command."""

import sys

from geoequity.cli import main

sys.exit(main())
