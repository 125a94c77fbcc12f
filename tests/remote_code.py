"""Run a check script of `tests/` the way the Hub runs a saved folder: in a fresh interpreter where `modeling_msqnet`
is not importable (no `PYTHONPATH`), offline, with the remote code cached under the work folder."""

import os
import subprocess
import sys
from pathlib import Path


def run_without_package(script_name: str, args, workdir, timeout: int = 300):
    """Run `tests/<script_name> *args` in `workdir` without the package on the path; fail with its stderr if it fails."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(Path(workdir) / "modules"), OMP_NUM_THREADS="1")
    script = Path(__file__).with_name(script_name)
    completed = subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
