#!/usr/bin/env python3
"""Generate the typed CPUArchState artifacts of one QEMU target for Penguin's cffi: the
ABI-mode env header and the compiled API-mode env module (CONTRACT.md section 6).

The command of the package scripts/penguin_envgen/, whose __init__.py says what each
part does; build.sh runs it once per target and mode.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from penguin_envgen.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
