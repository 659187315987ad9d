"""``python -m llm_featurestore.cli``."""

import sys

from llm_featurestore.cli.app import main

sys.exit(main())
