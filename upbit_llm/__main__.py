"""`python -m upbit_llm` is the same as the `upbit-llm` console script."""

import sys

from upbit_llm.cli import main

sys.exit(main())
