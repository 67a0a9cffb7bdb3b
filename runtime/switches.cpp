#include "runtime/switches.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "tensor/error.h"

namespace dcsr::runtime {

bool env_switch_on(const char* name) {
  const char* value = std::getenv(name);
  return value && std::strcmp(value, "1") == 0;
}

namespace {
std::atomic<bool> g_tf32{env_switch_on("DCSR_TF32")};
}  // namespace

void set_cuda_tf32(bool enabled) { g_tf32.store(enabled); }
bool cuda_tf32() { return g_tf32.load(); }

namespace {
constexpr CudaConvPath kConvPaths[] = {CudaConvPath::kAuto, CudaConvPath::kIm2col, CudaConvPath::kImplicit,
                                       CudaConvPath::kTile, CudaConvPath::kMeasure};
std::atomic<int> g_conv_path{-1};  // -1: DCSR_CONV_PATH not read yet
}  // namespace

CudaConvPath conv_path_from_name(const std::string& name) {
  for (CudaConvPath p : kConvPaths)
    if (name == conv_path_name(p)) return p;
  throw Error("DCSR_CONV_PATH='" + name + "': expected auto, im2col, implicit, tile or measure");
}

const char* conv_path_name(CudaConvPath path) {
  switch (path) {
    case CudaConvPath::kIm2col: return "im2col";
    case CudaConvPath::kImplicit: return "implicit";
    case CudaConvPath::kTile: return "tile";
    case CudaConvPath::kMeasure: return "measure";
    default: return "auto";
  }
}

void set_cuda_conv_path(CudaConvPath path) { g_conv_path.store(int(path)); }

CudaConvPath cuda_conv_path() {
  int v = g_conv_path.load();
  if (v < 0) {
    const char* value = std::getenv("DCSR_CONV_PATH");
    v = int(value && *value ? conv_path_from_name(value) : CudaConvPath::kAuto);
    g_conv_path.store(v);
  }
  return CudaConvPath(v);
}

namespace {
std::atomic<int> g_match_path{-1};  // -1: DCSR_CUDA_MATCH not read yet
}  // namespace

const char* match_path_name(CudaMatchPath path) {
  switch (path) {
    case CudaMatchPath::kTf32: return "tf32";
    case CudaMatchPath::kMap: return "map";
    case CudaMatchPath::kFloat32: break;
  }
  return "float32";
}

CudaMatchPath match_path_from_name(const std::string& name) {
  if (name.empty() || name == "float32") return CudaMatchPath::kFloat32;
  if (name == "tf32") return CudaMatchPath::kTf32;
  if (name == "map") return CudaMatchPath::kMap;
  throw Error("DCSR_CUDA_MATCH='" + name + "': expected float32, tf32 or map");
}

void set_cuda_match_path(CudaMatchPath path) { g_match_path.store(int(path)); }

CudaMatchPath cuda_match_path() {
  int v = g_match_path.load();
  if (v < 0) {
    const char* value = std::getenv("DCSR_CUDA_MATCH");
    v = int(match_path_from_name(value ? value : ""));
    g_match_path.store(v);
  }
  return CudaMatchPath(v);
}

}  // namespace dcsr::runtime
