"""Every figure of the footprint goals side by side with its goal (what `make bench` prints).

.venv/bin/python bench/all.py [--quick] [--json]
"""

from __future__ import annotations

import functions
import translate
import webhook
from harness import main

if __name__ == "__main__":
    main([*translate.MEASURES, *webhook.MEASURES, *functions.MEASURES], __doc__ or "")
