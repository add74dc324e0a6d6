"""Give the venv's scripts a plain interpreter line again.

pip writes a script whose interpreter path is long (a deep build directory) as a shell script that
runs Python on itself; dh_virtualenv then points that at the installed path, which is short. Lintian
reads such a file as shell and fails its syntax check, and it starts a shell for nothing: put back
`#!/usr/lib/cabinetd/venv/bin/python`.
"""

import re
import sys
from pathlib import Path

WRAPPED = re.compile(r"\A#!/bin/sh\n'''exec' (\S+) \"\$0\" \"\$@\"\n' '''\n")

for script in Path(sys.argv[1]).iterdir():
    if script.is_file() and not script.is_symlink():
        text = script.read_bytes().decode("utf-8", "surrogateescape")
        fixed = WRAPPED.sub(lambda found: f"#!{found[1]}\n", text)
        if fixed != text:
            script.write_bytes(fixed.encode("utf-8", "surrogateescape"))
