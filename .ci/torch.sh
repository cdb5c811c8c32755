#!/usr/bin/env bash
# A torch that runs on CPU, for the cifar10 task's baseline test, into the active Python.
# The CPU-only build (about 190 MB) lives on PyTorch's own index, which not every CI machine
# reaches; PyPI's Linux wheel is the CUDA build, which runs on CPU too but brings the CUDA
# libraries (about 3 GB of wheels, 5.3 GB installed, 70 to 200 s measured). Torch is no
# dependency of the project (the cifar10 task installs it in its own environment): CI only.
set -euo pipefail

if python -c "import torch" 2>/dev/null; then
  exit 0
fi
cpu_index="https://download.pytorch.org/whl/cpu"
# a machine that cannot reach the CPU index fails this within seconds (no retries)
if ! python -m pip install -q --retries 0 --timeout 15 --index-url "$cpu_index" torch 2>/dev/null; then
  echo "torch: $cpu_index is out of reach; PyPI's build (CUDA libraries included, several GB)"
  python -m pip install -q torch
fi
python -c "import torch; print('torch', torch.__version__, 'runs on', 'cuda' if torch.cuda.is_available() else 'cpu')"
