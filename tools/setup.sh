#!/usr/bin/env bash
# Installs the build dependencies with apt-get when any is missing; does
# nothing (and needs no network) when everything is present.
set -euo pipefail

missing=()
need_command() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_file() { [ -e "$1" ] || missing+=("$2"); }

need_command cmake cmake
need_command g++ g++
need_command make make
need_file /usr/include/eigen3/Eigen/Core libeigen3-dev
need_file /usr/include/catch2/catch.hpp catch2
need_file /usr/include/nlohmann/json.hpp nlohmann-json3-dev
need_file /usr/include/stb/stb_image.h libstb-dev
# Open MPI: data-parallel training (nn/distributed.h; optional in the build)
need_command mpicxx libopenmpi-dev
need_command mpirun openmpi-bin
# libheif: HEIC/HEIF/AVIF photos as phones save them (io/heif_decode.h; optional in the build)
need_command pkg-config pkg-config
command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libheif || missing+=(libheif-dev)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
