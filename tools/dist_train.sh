#!/usr/bin/env bash
# Distributed training with torchrun, on GPUs or (gloo) on CPU-only machines.
#   bash tools/dist_train.sh CONFIG NUM_PROCS [train.py args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node
# (see tools/dist_launch.sh; PYTHON picks the interpreter).
set -euo pipefail
CONFIG=$1
NPROC=$2
HERE=$(cd "$(dirname "$0")" && pwd)

exec bash "$HERE/dist_launch.sh" "$NPROC" \
    "$HERE/train.py" "$CONFIG" --launcher pytorch "${@:3}"
