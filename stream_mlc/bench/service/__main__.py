"""``python -m stream_mlc.bench.service``: the bench, and how it starts its child processes."""

import sys

from stream_mlc.bench.service import main

if __name__ == "__main__":
    sys.exit(main())
