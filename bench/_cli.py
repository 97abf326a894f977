"""Run an installed command-line tool (``bgremove``, ``rembg``) with the network guard installed first.

    _cli.py NAME ARG...

Loads NAME's ``console_scripts`` entry point, as the installed wrapper script does, so the run is the
tool's own command line; the only addition is ``_netguard``, which refuses and logs network access.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import _netguard


def main() -> int:
    name = sys.argv[1]
    (point,) = entry_points(group="console_scripts", name=name)
    sys.argv = [name, *sys.argv[2:]]
    _netguard.install()
    result = point.load()()
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
