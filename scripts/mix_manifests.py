"""One training manifest from several (bce.csv or ctc.csv), with absolute paths, for a model
trained on a mix of sets (e.g. ensemble renders and piano performances).

    python scripts/mix_manifests.py OUT.csv A/bce.csv[:REPEAT[:one-per-piece][:prefix=P]] ...

REPEAT lists each of a set's rows that many times (weights the set in the batches);
``one-per-piece`` keeps one version of each piece of a ``dataset --versions`` set (version
k mod 3 of the k-th piece); ``prefix=P`` puts ``P/`` before the set's groups (two sets must not
share a group: the validation split holds out whole groups).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

PATH_COLUMNS = ("audio", "labels", "theme")


def main() -> None:
    out, specs = Path(sys.argv[1]), sys.argv[2:]
    rows, fields = [], []
    for spec in specs:
        path, *opts = spec.split(":")
        path = Path(path).resolve()
        repeat = int(opts[0]) if opts else 1
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            fields += [c for c in reader.fieldnames or [] if c not in fields]
            kept, seen = [], {}
            for r in reader:
                if "one-per-piece" in opts:
                    k = seen.setdefault(r["group"], len(seen))
                    if not Path(r["audio"]).stem.endswith(f"_v{k % 3}"):
                        continue
                r = {c: (str(path.parent / v) if c in PATH_COLUMNS and v else v) for c, v in r.items()}
                prefix = next((o[7:] + "/" for o in opts if o.startswith("prefix=")), "")
                r["group"] = prefix + (r.get("group") or Path(r["audio"]).stem)
                kept += [r] * repeat
        rows += kept
        print(f"{path}: {len(kept) // repeat} rows x {repeat}")
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} rows: {out}")


if __name__ == "__main__":
    main()
