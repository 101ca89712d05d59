#!/usr/bin/env bash
# torchrun launcher shared by tools/dist_train.sh and tools/dist_test.sh, on
# GPUs or (gloo) on CPU-only machines:
#   bash tools/dist_launch.sh NUM_PROCS SCRIPT [script args...]
# runs SCRIPT (a path) on NUM_PROCS processes per node with the repository
# root on PYTHONPATH. Environment (defaults): NNODES (1), NODE_RANK (0),
# MASTER_ADDR (127.0.0.1), PORT (29500), PYTHON (python); for multi-node
# runs set the first four on every node.
set -euo pipefail
NPROC=$1
SCRIPT=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}
HERE=$(cd "$(dirname "$0")" && pwd)

PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" \
    --master_port="$PORT" \
    "$SCRIPT" "${@:3}"
