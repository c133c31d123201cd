"""`python -m schemas generate|check`: write or verify the committed JSON Schema files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from schemas.jsonschema import SCHEMA_DIR, check_all, write_all


def main(argv: list[str] | None = None) -> int:
    """Run one command and return the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m schemas", description=__doc__)
    parser.add_argument("command", choices=("generate", "check"))
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="where the files live")
    args = parser.parse_args(argv)
    if args.command == "generate":
        for path in write_all(args.dir):
            print(f"wrote {path}")
        return 0
    drift = check_all(args.dir)
    for line in drift:
        print(line, file=sys.stderr)
    if drift:
        print("run `python -m schemas generate` and commit the result", file=sys.stderr)
    return 1 if drift else 0


if __name__ == "__main__":
    sys.exit(main())
