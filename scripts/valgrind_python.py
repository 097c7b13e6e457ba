"""Runs pytest under valgrind memcheck and fails if any memory error involves ringroute's native
module. Usage: python scripts/valgrind_python.py PYTHON [pytest args...]

CPython itself is not clean under memcheck (its garbage collector reads memory memcheck thinks is
uninitialised; glibc's vector string compares read past the end of a string), so an error counts
only if one of its stack frames lies in ringroute (the `_ringroute` extension, or a `ringroute::`
symbol in it). The run prints how many errors it found in each group; pytest must also pass.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile


def main() -> int:
    python, *pytest_args = sys.argv[1:]
    with tempfile.NamedTemporaryFile(prefix="valgrind-", suffix=".log", delete=False) as log:
        log_path = log.name
    cmd = [
        "valgrind",
        "--tool=memcheck",
        "--leak-check=no",
        "--num-callers=40",
        f"--log-file={log_path}",
        python,
        "-m",
        "pytest",
        *pytest_args,
    ]
    if os.path.exists("/usr/lib/valgrind/python3.supp"):
        cmd.insert(1, "--suppressions=/usr/lib/valgrind/python3.supp")
    env = dict(os.environ, PYTHONMALLOC="malloc")  # memcheck sees every allocation
    status = subprocess.run(cmd, env=env).returncode
    text = open(log_path, encoding="utf-8", errors="replace").read()
    os.unlink(log_path)
    # One block per error: a "==pid== <kind>" line and its frames, up to the next blank "==pid==".
    blocks = re.split(r"^==\d+== \n", text, flags=re.M)
    errors = [b for b in blocks if re.search(r"^==\d+== +(at|by) 0x", b, flags=re.M)]
    ours = [b for b in errors if "_ringroute" in b or "ringroute::" in b]
    print(f"valgrind: {len(errors)} error contexts in all, {len(ours)} involving ringroute")
    for b in ours[:5]:
        print(b)
    if status != 0:
        print(f"pytest under valgrind exited {status}")
        return 1
    return 1 if ours else 0


if __name__ == "__main__":
    sys.exit(main())
