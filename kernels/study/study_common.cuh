// Shared pieces of the kernel study programs (kernels/study/<kernel>.cu, built
// as build/bin/study_<kernel> in CUDA builds only), in the manner of llm.c's
// dev/cuda: each program holds numbered versions of one hot kernel, version 0
// being the production kernel of kernels/cuda/; every version is checked
// against the CPU backend's kernel (dcsr::kernels::cpu::...) on the same
// inputs before it is timed; times are medians of CUDA-event measurements
// after warm-up, reported as TFLOP/s or GB/s next to the ceilings measured in
// the same process: a device-to-device cudaMemcpy (bytes read + written) and
// a cuBLAS SGEMM (TF32 off).
//
// Output: one JSON object per line, so that tools/gpu_check.sh can collect
// them. Without a GPU a program prints one line saying it was skipped and
// exits 0.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cuda/cublas_handle.h"
#include "runtime/cuda_check.h"
#include "kernels/cuda/event_timing.h"
#include "runtime/device.h"
#include "runtime/switches.h"
#include "tensor/random.h"
#include "tensor/error.h"
#include "tensor/tensor.h"

namespace dcsr::study {

// --quick (every study takes it): small ceilings, few repeats. For smoke
// runs, e.g. under the host emulator of tools/cuda_emu.
inline bool& quick_mode() {
  static bool quick = false;
  return quick;
}

// Median milliseconds of fn() over `repeats` runs after `warmup` runs, each
// run bracketed by CUDA events on the default stream.
inline double time_ms(const std::function<void()>& fn, int warmup = 3, int repeats = 15) {
  if (quick_mode()) warmup = 1, repeats = 3;
  const std::vector<double> times = kernels::cuda::event_times_ms(fn, warmup, repeats);
  return times[times.size() / 2];
}

struct Peaks {
  double copy_gbps = 0.0;     // cudaMemcpy device to device, bytes read + written
  double sgemm_tflops = 0.0;  // cuBLAS SGEMM 4096^3, float32 (no TF32)
};

// Measures both ceilings once (about 50 ms of device time; tiny with --quick).
inline Peaks measure_peaks() {
  Peaks p;
  const int64_t n = quick_mode() ? int64_t(1) << 20 : int64_t(1) << 28;  // 1 GiB of float32
  Tensor src = full({n}, 1.0, kFloat32, kCUDA), dst = empty({n}, kFloat32, kCUDA);
  double ms = time_ms([&] {
    DCSR_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), dst.nbytes(), cudaMemcpyDeviceToDevice, 0));
  });
  p.copy_gbps = 2.0 * double(dst.nbytes()) / (ms * 1e6);
  src = dst = Tensor();
  const int s = quick_mode() ? 256 : 4096;
  Generator gen(7);  // random operands: constant ones can run faster than real data
  Tensor a = uniform({s, s}, gen, -1.0, 1.0, kFloat32, kCUDA), b = uniform({s, s}, gen, -1.0, 1.0, kFloat32, kCUDA);
  Tensor c = empty({s, s}, kFloat32, kCUDA);
  const bool tf32 = runtime::cuda_tf32();
  runtime::set_cuda_tf32(false);
  cublasHandle_t handle = kernels::cuda::cublas_handle();
  const float one = 1.0f, zero = 0.0f;
  ms = time_ms([&] {
    DCSR_CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, s, s, s, &one, b.data<float>(), s,
                                  a.data<float>(), s, &zero, c.data<float>(), s));
  });
  runtime::set_cuda_tf32(tf32);
  p.sgemm_tflops = 2.0 * double(s) * s * s / (ms * 1e9);
  return p;
}

// Relative L2 error of `got` against `ref`, NaN-aware (a NaN, e.g. from an
// output element nobody wrote after poisoning, fails).
struct Check {
  double rel_l2 = 0.0;
  double max_abs = 0.0;
  bool ok = false;
};

inline Check compare(const std::vector<float>& got, const std::vector<float>& ref, double tolerance) {
  Check c;
  double num = 0.0, den = 0.0;
  bool finite = got.size() == ref.size();
  for (size_t i = 0; finite && i < got.size(); ++i) {
    if (!std::isfinite(got[i])) {
      finite = false;
      break;
    }
    const double d = double(got[i]) - double(ref[i]);
    num += d * d;
    den += double(ref[i]) * double(ref[i]);
    c.max_abs = std::max(c.max_abs, std::abs(d));
  }
  c.rel_l2 = finite ? std::sqrt(num / std::max(den, 1e-300)) : INFINITY;
  if (!finite) c.max_abs = INFINITY;  // the values before the first NaN say nothing
  c.ok = finite && c.rel_l2 <= tolerance;
  return c;
}

// Poisons a device float32 tensor with NaN, so unwritten outputs show.
inline void poison(Tensor& t) {
  std::vector<float> nan(size_t(t.numel()), std::nanf(""));
  runtime::copy_bytes(t.raw_data(), kCUDA, nan.data(), kCPU, t.nbytes());
}

// s with quotes and backslashes escaped and control characters dropped, for
// JSON strings.
inline std::string json_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (static_cast<unsigned char>(ch) >= 0x20) out += ch;
  }
  return out;
}

inline void print_machine(const char* study, const Peaks& p) {
  std::printf("{\"study\": \"%s\", \"device\": \"%s\", \"copy_gbps\": %.1f, \"cublas_sgemm_tflops\": %.2f}\n", study,
              json_escape(runtime::cuda_device_description()).c_str(), p.copy_gbps, p.sgemm_tflops);
}

// One result line. `flop` > 0: reports TFLOP/s against cuBLAS SGEMM; `bytes`
// > 0: reports GB/s against the copy.
inline void print_result(const char* study, const std::string& shape, int version, const char* what, const Check& c,
                         double ms, double flop, double bytes, const Peaks& p) {
  std::string line = "{\"study\": \"" + std::string(study) + "\", \"shape\": \"" + shape +
                     "\", \"version\": " + std::to_string(version) + ", \"what\": \"" + what +
                     "\", \"ok\": " + (c.ok ? "true" : "false");
  char buf[256];
  // JSON has no inf or NaN: a failed check's errors are null.
  const auto number = [&](double v) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.3g", v);
    return std::isfinite(v) ? std::string(text) : std::string("null");
  };
  line += ", \"rel_l2\": " + number(c.rel_l2) + ", \"max_abs\": " + number(c.max_abs);
  if (c.ok) {
    std::snprintf(buf, sizeof(buf), ", \"ms\": %.4f", ms);
    line += buf;
    if (flop > 0) {
      const double tflops = flop / (ms * 1e9);
      std::snprintf(buf, sizeof(buf), ", \"tflops\": %.2f, \"vs_cublas_sgemm\": %.3f", tflops, tflops / p.sgemm_tflops);
      line += buf;
    }
    if (bytes > 0) {
      const double gbps = bytes / (ms * 1e6);
      std::snprintf(buf, sizeof(buf), ", \"gbps\": %.1f, \"vs_memcpy\": %.3f", gbps, gbps / p.copy_gbps);
      line += buf;
    }
  }
  std::printf("%s}\n", line.c_str());
  std::fflush(stdout);
}

// Prints the skip line and returns false when no GPU answers.
inline bool gpu_or_skip(const char* study) {
  if (runtime::cuda_available()) return true;
  std::printf("{\"study\": \"%s\", \"skipped\": \"no GPU: %s\"}\n", study,
              json_escape(runtime::cuda_unavailable_reason()).c_str());
  return false;
}

// ---- the frame every study shares ----

// "2x64x4096": sizes joined by 'x', for the "shape" field.
inline std::string dims(std::initializer_list<int64_t> sizes) {
  std::string out;
  for (int64_t s : sizes) out += (out.empty() ? "" : "x") + std::to_string(s);
  return out;
}

// Random unit columns (N, D, L) on the CPU, as matching descriptors and the
// contextual loss's normalised features are.
inline Tensor unit_columns(const Shape& shape, Generator& gen) {
  Tensor x = normal(shape, gen, 0.0, 1.0), out = empty(shape), norm = empty({shape[0], shape[2]});
  kernels::cpu::normalize_columns(x, out, norm);
  return out;
}

// How many elements of two int64 tensors (argmax indices) differ.
inline int64_t mismatches(const Tensor& a, const Tensor& b) {
  std::vector<int64_t> x = a.to_vector<int64_t>(), y = b.to_vector<int64_t>();
  int64_t count = 0;
  for (size_t i = 0; i < x.size(); ++i) count += x[i] != y[i];
  return count;
}

// All values of float32 tensors, concatenated, for one relative L2 check of
// a version with several outputs.
inline std::vector<float> joined(const std::vector<const Tensor*>& parts) {
  std::vector<float> all;
  for (const Tensor* t : parts) {
    std::vector<float> v = t->to_vector<float>();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

// A baseline line (e.g. cuBLAS on the equivalent GEMM), in TFLOP/s against
// the SGEMM ceiling.
inline void print_baseline(const char* study, const std::string& shape, const char* what, double ms, double flop,
                           const Peaks& p) {
  std::printf("{\"study\": \"%s\", \"shape\": \"%s\", \"what\": \"%s\", \"ms\": %.4f, \"tflops\": %.2f, "
              "\"vs_cublas_sgemm\": %.3f}\n",
              study, shape.c_str(), what, ms, flop / (ms * 1e9), flop / (ms * 1e9) / p.sgemm_tflops);
}

// One version of the studied kernel: the device outputs it writes (poisoned
// with NaN before its checked run, so unwritten values fail) and the CPU
// results they must match, in the same order, within `tolerance` (relative
// L2 over all of them together).
struct Version {
  std::string what;
  std::vector<Tensor*> outputs;
  std::vector<const Tensor*> references;
  double tolerance = 0.0;
  std::function<void()> run;
  // This version's own work when it is not the study's (a stage that only
  // moves data: flop 0 and the bytes it moves); -1: the study's.
  double flop = -1.0, bytes = -1.0;
};

// Prints a study's extra lines for version v once it is checked (and timed:
// ms is 0 when the check failed).
using AfterVersion = std::function<void(int v, const Check& check, double ms)>;

// Checks each version (only `only_version` when >= 0) against the CPU, times
// it when it passed, and prints its result line: `flop` > 0 reports TFLOP/s,
// `bytes` > 0 GB/s (print_result).
inline void run_versions(const char* study, const std::string& shape, const std::vector<Version>& versions,
                         int only_version, double flop, double bytes, const Peaks& peaks,
                         const AfterVersion& after = nullptr) {
  DCSR_CHECK(only_version < int(versions.size()), "--version ", only_version, ": study ", study, " has versions 0 to ",
             int(versions.size()) - 1);
  for (int v = 0; v < int(versions.size()); ++v) {
    if (only_version >= 0 && v != only_version) continue;
    const Version& ver = versions[size_t(v)];
    for (Tensor* out : ver.outputs) poison(*out);
    try {
      ver.run();
    } catch (const std::exception& e) {
      // One version that cannot run this shape (a size it does not take)
      // is reported, and the others still run.
      std::printf("{\"study\": \"%s\", \"shape\": \"%s\", \"version\": %d, \"what\": \"%s\", \"ok\": false, "
                  "\"error\": \"%s\"}\n",
                  study, shape.c_str(), v, json_escape(ver.what).c_str(), json_escape(e.what()).c_str());
      std::fflush(stdout);
      continue;
    }
    DCSR_CUDA_CHECK(cudaDeviceSynchronize());
    const std::vector<const Tensor*> outputs(ver.outputs.begin(), ver.outputs.end());
    const Check check = compare(joined(outputs), joined(ver.references), ver.tolerance);
    const double ms = check.ok ? time_ms(ver.run) : 0.0;
    print_result(study, shape, v, ver.what.c_str(), check, ms, ver.flop >= 0 ? ver.flop : flop,
                 ver.bytes >= 0 ? ver.bytes : bytes, peaks);
    if (after) after(v, check, ms);
  }
}

// The command line every study takes: --quick, --version V and, for studies
// with a list of shapes, --shape with `fields` sizes joined by 'x' (spelled
// `spec` in messages), repeatable.
struct Options {
  int only_version = -1;
  std::vector<std::vector<int64_t>> shapes;
};

// The GPU sizes of an op's row in the op table (tests/op_table.h: the `bench`
// sizes labelled "cuda" or "cuda_<part>" that a full bench run times,
// apps/bench/bench_cuda.cpp): a study's default shapes when no --shape is
// given (--quick runs keep their own small odd sizes, for the emulator). Each
// study says what the sizes mean (the row says it too).
template <typename Row>
std::vector<std::vector<int64_t>> table_gpu_sizes(const Row& row) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& size : row.bench)
    if ((size.label == "cuda" || size.label.rfind("cuda_", 0) == 0) && size.runs(/*quick=*/false))
      out.push_back(size.sizes);
  return out;
}

// Parses "AxBx..." with exactly `fields` leading numbers (what follows them is
// ignored, as sscanf did); false when there are fewer.
inline bool parse_shape(const char* text, int fields, std::vector<int64_t>& out) {
  out.clear();
  const char* p = text;
  for (int i = 0; i < fields; ++i) {
    if (i > 0 && *p++ != 'x') return false;
    char* end = nullptr;
    const long long v = std::strtoll(p, &end, 10);
    if (end == p) return false;
    out.push_back(v);
    p = end;
  }
  return true;
}

// main() of a study: the options (the usage and exit 2 on a bad one, also
// without a GPU), the skip line without a GPU (exit 0), the machine line,
// then body(options, peaks); an exception becomes an error line (exit 1).
inline int study_main(int argc, char** argv, const char* study, const char* spec, int fields,
                      const std::function<void(const Options&, const Peaks&)>& body) {
  Options options;
  const std::string usage = std::string("usage: study_") + study + " [--quick] [--version V]" +
                            (spec ? std::string(" [--shape ") + spec + "]..." : std::string()) + "\n";
  const auto bad = [&](const std::string& message) {
    std::fprintf(stderr, "study_%s: %s\n%s", study, message.c_str(), usage.c_str());
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick_mode() = true;
    } else if (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0) {
      std::printf("%s", usage.c_str());
      return 0;
    } else if (std::strcmp(argv[i], "--version") == 0 && has_value) {
      const std::string text = argv[++i];
      const std::optional<uint64_t> v = parse_decimal_digits(text, 0, 1000);
      if (!v) return bad("--version expects a version number, got '" + text + "'");
      options.only_version = int(*v);
    } else if (spec && std::strcmp(argv[i], "--shape") == 0 && has_value) {
      std::vector<int64_t> sizes;
      if (!parse_shape(argv[++i], fields, sizes)) return bad(std::string("--shape wants ") + spec);
      for (int64_t s : sizes)
        if (s < 1 || s > (int64_t(1) << 24)) return bad(std::string("--shape sizes are 1 to 2^24, got ") + argv[i]);
      options.shapes.push_back(sizes);
    } else {
      return bad(std::string("unknown or incomplete option '") + argv[i] + "'");
    }
  }
  if (!gpu_or_skip(study)) return 0;
  try {
    const Peaks peaks = measure_peaks();
    print_machine(study, peaks);
    body(options, peaks);
  } catch (const std::exception& e) {
    std::printf("{\"study\": \"%s\", \"error\": \"%s\"}\n", study, json_escape(e.what()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace dcsr::study
