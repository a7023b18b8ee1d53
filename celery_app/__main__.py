"""`python -m celery_app worker|beat|flower ...` is `celery -A celery_app ...`."""

import sys

from celery.__main__ import main

if __name__ == "__main__":
    sys.argv = ["celery", "-A", "celery_app", *sys.argv[1:]]
    sys.exit(main())
