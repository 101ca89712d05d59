#!/usr/bin/env bash
# Distributed evaluation with torchrun, on GPUs or (gloo) on CPU-only machines.
#   bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node
# (see tools/dist_launch.sh; PYTHON picks the interpreter).
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
HERE=$(cd "$(dirname "$0")" && pwd)

exec bash "$HERE/dist_launch.sh" "$NPROC" \
    "$HERE/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
