# Sourced by the background runners (h200_runner.sh, h200_runner_x2.sh) as `source runner_env.sh WORK
# LLAMA_BIN`: their arguments, environment, log line, /dev/shm size, and the time budget helper.
set -uo pipefail
WORK=$1
BIN=$2
export PYTHONPATH=$PWD/src:/tmp/site${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
# NVLink multicast stays off (the device tool's rule for multi-GPU machines).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
log() { echo "[$(date +%H:%M:%S)] $*"; }
# /dev/shm holds the largest models: enlarge it past the tmpfs default of half the RAM.
mount -o remount,size=236G /dev/shm 2>/dev/null && log "/dev/shm: $(df -h /dev/shm | tail -1)"
T0=$(date +%s)
left() { echo $(( T0 + $1 - $(date +%s) )); }  # seconds left of a budget of $1 s from the start
