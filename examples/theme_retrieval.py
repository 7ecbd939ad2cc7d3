"""Which recordings in a folder contain a theme? A ranked table, as in Zalkow & Müller (2020).

    python examples/theme_retrieval.py ../shared/data/real/mtd_themes ../shared/data/real
"""

import sys
from pathlib import Path

import chromatool as ct

themes, recordings = sys.argv[1], sys.argv[2]
result = ct.retrieve([themes], [recordings], top=3)
for hit in result.hits:
    print(f"{Path(hit.query).stem[-28:]:<30}{hit.rank:>3}  {Path(hit.doc).name:<45}"
          f"cost {hit.cost:.3f}  {hit.start:6.2f}-{hit.end:6.2f} s")
