#!/usr/bin/env bash
# Installs the build dependencies with apt-get when any is missing; does
# nothing (and needs no network) when everything is present.
set -euo pipefail

missing=()   # needed to build and test
optional=()  # parts the build leaves out when absent (it says so when it configures)
need_command() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_file() { [ -e "$1" ] || missing+=("$2"); }
want_command() { command -v "$1" >/dev/null 2>&1 || optional+=("$2"); }

need_command cmake cmake
need_command g++ g++
need_command make make
need_file /usr/include/eigen3/Eigen/Core libeigen3-dev
# The tests take Catch2 2.13 (Debian 12's catch2: catch.hpp) or 3 (Debian
# 13's: catch_all.hpp); tests/catch.h hides the difference.
[ -e /usr/include/catch2/catch.hpp ] || need_file /usr/include/catch2/catch_all.hpp catch2
need_file /usr/include/nlohmann/json.hpp nlohmann-json3-dev
need_file /usr/include/stb/stb_image.h libstb-dev
# Open MPI: data-parallel training (nn/distributed.h; optional in the build)
want_command mpicxx libopenmpi-dev
want_command mpirun openmpi-bin
# libheif: HEIC/HEIF/AVIF photos as phones save them (io/heif_decode.h; optional in the build)
want_command pkg-config pkg-config
command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libheif || optional+=(libheif-dev)

if [ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    if [ ${#missing[@]} -gt 0 ]; then
      echo "setup: need root or sudo to install ${missing[*]}" >&2
      exit 1
    fi
    echo "setup: no root or sudo to install the optional ${optional[*]}; building without them" >&2
    exit 0
  fi
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
all=("${missing[@]}" "${optional[@]}")
echo "setup: installing ${all[*]}"
if ! $sudo apt-get update -qq || ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" "${optional[@]}" >/dev/null; then
  # The required ones alone, so that a missing optional package does not stop the build.
  if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: could not install the optional ${optional[*]}; building without them" >&2
    exit 0
  fi
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { echo "setup: could not install ${missing[*]}" >&2; exit 1; }
  echo "setup: installed ${missing[*]}; not the optional ${optional[*]}" >&2
  exit 0
fi
echo "setup: done"
