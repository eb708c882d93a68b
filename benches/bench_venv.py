"""The side-by-side scripts' Python environment: target/bench-venv, made and filled on request.

Not part of the tests.
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "bench-venv")


def install_and_rerun(packages, script):
    """Makes the environment if it is missing, installs `packages` into it, and runs `script`
    again under its Python with the same arguments but `--install` (this process is replaced)."""
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    subprocess.check_call([python, "-m", "pip", "install", "-q"] + packages)
    os.execv(python, [python, os.path.abspath(script)] + [a for a in sys.argv[1:] if a != "--install"])
