# Sourced by tools/gpu_check.sh and tools/gpu_train.sh: how a device machine
# configures the CUDA build. A device image has CUDA, CMake and a compiler but
# not the header-only dependencies, which travel as .gpu_deps/ or packed as
# .gpu_deps.tar.xz (gpu_check.sh --bundle-deps [--xz]).
#
#   gpu_unpack_deps ROOT          unpacks .gpu_deps.tar.xz where .gpu_deps/ would be
#   gpu_cmake_args ROOT BUILD     sets the array GPU_CMAKE_ARGS for `cmake`: a Release
#                                 build with CUDA in BUILD, the bundled dependencies
#                                 when present, Ninja for a new build dir when installed

gpu_unpack_deps() {
  local root="$1"
  if [ ! -d "$root/.gpu_deps/usr" ] && [ -f "$root/.gpu_deps.tar.xz" ]; then tar xJf "$root/.gpu_deps.tar.xz" -C "$root"; fi
}

gpu_cmake_args() {
  local root="$1" build="$2"
  # CMAKE_POLICY_VERSION_MINIMUM lets CMake 4 read package files written for
  # older CMakes; older CMakes ignore it.
  GPU_CMAKE_ARGS=(-S "$root" -B "$build" -DDCSR_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_POLICY_VERSION_MINIMUM=3.5)
  if [ -d "$root/.gpu_deps/usr" ]; then GPU_CMAKE_ARGS+=("-DCMAKE_PREFIX_PATH=$root/.gpu_deps/usr"); fi
  if [ ! -f "$build/CMakeCache.txt" ] && command -v ninja >/dev/null 2>&1; then GPU_CMAKE_ARGS+=(-G Ninja); fi
}
