"""`python -m visionflow.cli`, as the tests and the workflow's environments call it."""

import sys

from visionflow.cli import main

sys.exit(main())
