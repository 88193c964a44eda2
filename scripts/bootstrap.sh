#!/usr/bin/env bash
# Install everything spillover needs, idempotently: Debian libraries, .venv, torch (CPU), the package.
# A second run finds everything in place and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PYTHON=${PYTHON:-python3}
# openmpi: GPAW compiles with MPI when mpic++ is on PATH, so queue jobs with several tasks run its ranks.
# texlive: tests/test_tables.py compiles the LaTeX tables with pdflatex (booktabs.sty is in -recommended).
# libscalapack-openmpi-dev: GPAW is built with ScaLAPACK (scripts/gpaw_siteconfig.py says why).
DEB_PACKAGES=(libxc-dev libopenblas-dev libscalapack-openmpi-dev pkg-config openmpi-bin libopenmpi-dev slurm-wlm munge
              texlive-latex-base texlive-latex-recommended)
TORCH_VERSION=2.13.0
EXTRAS=${SPILLOVER_EXTRAS:-all,test}

say() { printf '[bootstrap] %s\n' "$*" >&2; }

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip wheel setuptools
fi

# Reinstall only when the package definition or the pinned versions change.
stamp="$VENV/.spillover-installed"
want=$(cat pyproject.toml requirements/constraints.txt scripts/bootstrap.sh scripts/gpaw_siteconfig.py | sha256sum | cut -c1-16)-$EXTRAS
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi

# torch first, pinned to the CPU build: a plain 'torch' requirement from chgnet would pull GBs of CUDA.
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    say "installing torch==$TORCH_VERSION (CPU)"
    "$VENV/bin/pip" install -q "torch==$TORCH_VERSION"
fi

# GPAW's C sources compile as C++17: CC=g++ is required for the gpaw build; its build options
# (ScaLAPACK) are in scripts/gpaw_siteconfig.py.
export GPAW_CONFIG="$PWD/scripts/gpaw_siteconfig.py"
say "installing spillover[$EXTRAS] (first time: a few minutes, GPAW compiles)"
CC=g++ "$VENV/bin/pip" install -q -c requirements/constraints.txt -e ".[$EXTRAS]"
# pip may reuse a GPAW wheel it built earlier without MPI or ScaLAPACK: rebuild it once if so.
if command -v mpic++ >/dev/null && "$VENV/bin/python" -c "import gpaw" 2>/dev/null \
        && ! "$VENV/bin/python" -c "import _gpaw, sys
sys.exit(not (hasattr(_gpaw, 'Communicator') and hasattr(_gpaw, 'new_blacs_context')))" 2>/dev/null; then
    say "rebuilding GPAW with MPI and ScaLAPACK"
    CC=g++ "$VENV/bin/pip" install -q --no-cache-dir --force-reinstall --no-deps -c requirements/constraints.txt gpaw
fi
echo "$want" > "$stamp"
say "done"
