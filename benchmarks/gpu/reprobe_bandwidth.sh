#!/usr/bin/env bash
# Re-probe a lent machine's memory bandwidth three times with tokbench's probe (read on a started
# thread pool) and, for the record, the copy probe it replaced (benchmarks/gpu/_old_bandwidth_probe.py).
# Usage on the device, repository root: benchmarks/gpu/reprobe_bandwidth.sh
python3 -m pip install -q --no-index --no-deps --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD/src
echo "nproc $(nproc)"
for i in 1 2 3; do
  python3 -c "import json,sys; sys.path.insert(0,'benchmarks/gpu'); from tokbench.env.bandwidth import measure_bandwidth as m; import _old_bandwidth_probe as o; print('read', json.dumps(m())); print('copy', json.dumps(o.measure_bandwidth()))"
done
