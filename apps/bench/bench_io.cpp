// Image writing: the parallel PNG encoder (io/png_encode.h) and the streamed
// JPEG encoder (io/jpeg_encode.h) against stb_image_write's PNG and JPEG
// writers on the same pixels, in the same run; and reading: the one-pass
// PNG decoder (io/png_decode.h) against stb_image's. The image
// is what `dcsr sr` writes in 4K mode: 4032x3024 RGB, here the demo's wide
// frame upscaled with bicubic (smooth, like an SR output). Encoding only: no
// file is written, so the disk is not in the numbers.
#include <stb_image.h>
#include <stb_image_write.h>

#include <cstring>

#include "apps/bench/bench.h"
#include "autograd/grad_mode.h"
#include "autograd/ops/image.h"
#include "io/image_checks.h"
#include "io/image_io.h"
#include "io/jpeg_encode.h"
#include "io/png_decode.h"
#include "io/png_encode.h"
#include "kernels/cpu_paths.h"

namespace dcsr::bench {

namespace {

// What `dcsr sr` writes: the demo's wide frame upscaled with bicubic to w x h
// (smooth, like an SR output), 8-bit RGB interleaved.
std::vector<uint8_t> smooth_photo(int64_t w, int64_t h) {
  NoGradGuard no_grad;
  const Tensor photo = read_image(std::string(DCSR_SOURCE_DIR) + "/demo/wide.jpg");
  const ImageU8 image = tensor_to_image(bicubic_resize(photo, h, w));
  std::vector<uint8_t> pixels(size_t(3 * w * h));
  for (int64_t i = 0; i < w * h; ++i)
    for (int64_t k = 0; k < 3; ++k) pixels[size_t(3 * i + k)] = image.data[size_t(k * w * h + i)];
  return pixels;
}

// stb_image_write's callback: appends to a std::string.
void append(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), size_t(size));
}

void bench_png_encode(const Context& ctx, int64_t w, int64_t h) {
  const std::string name = "png_encode_" + std::to_string(w) + "x" + std::to_string(h);
  if (!selected(ctx, name)) return;
  const std::vector<uint8_t> pixels = smooth_photo(w, h);

  // Validate: ours decodes to the same pixels.
  std::string ours = encode_png(pixels.data(), w, h, 3);
  int dw = 0, dh = 0, dc = 0;
  uint8_t* decoded =
      stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(ours.data()), int(ours.size()), &dw, &dh, &dc, 3);
  const bool ok = decoded && dw == w && dh == h && std::memcmp(decoded, pixels.data(), pixels.size()) == 0;
  stbi_image_free(decoded);
  DCSR_CHECK(ok, name, ": the encoded PNG does not decode to the pixels it was given");

  Timing t = time_ms([&] { ours = encode_png(pixels.data(), w, h, 3); }, 1, repeats_for(ctx, 5));
  std::string stb;
  Timing base = time_ms(
      [&] {
        stb.clear();
        DCSR_CHECK(stbi_write_png_to_func(append, &stb, int(w), int(h), 3, pixels.data(), int(w * 3)),
                   "stbi_write_png failed");
      },
      1, repeats_for(ctx, 5));
  emit(ctx, {{"name", name},
             {"cpu", kernels::cpu_paths::cpu_model()},
             {"ms", t.median_ms},
             {"bytes", ours.size()},
             {"baseline", "stb_image_write PNG (one thread)"},
             {"stb_ms", base.median_ms},
             {"stb_bytes", stb.size()},
             {"time_ratio_vs_stb", t.median_ms / base.median_ms},
             {"size_ratio_vs_stb", double(ours.size()) / double(stb.size())}});
}

// The JPEG encoder at the quality `dcsr sr` writes by default (95: 4:4:4),
// fed in bands of 64 rows as the tiled inference hands them over.
void bench_jpeg_encode(const Context& ctx, int64_t w, int64_t h) {
  const std::string name = "jpeg_encode_" + std::to_string(w) + "x" + std::to_string(h);
  if (!selected(ctx, name)) return;
  const std::vector<uint8_t> pixels = smooth_photo(w, h);
  const int quality = 95;
  std::string ours;
  auto encode = [&] {
    ours.clear();
    JpegStreamEncoder encoder(w, h, 3, quality, [&](const char* d, size_t n) { ours.append(d, n); });
    for (int64_t y = 0; y < h; y += 64) encoder.add_rows(pixels.data() + y * w * 3, std::min<int64_t>(64, h - y));
    encoder.finish();
  };
  Timing t = time_ms(encode, 1, repeats_for(ctx, 5));
  std::string stb;
  Timing base = time_ms(
      [&] {
        stb.clear();
        DCSR_CHECK(stbi_write_jpg_to_func(append, &stb, int(w), int(h), 3, pixels.data(), quality),
                   "stbi_write_jpg failed");
      },
      1, repeats_for(ctx, 5));
  DCSR_CHECK(ours == stb, name, ": the streamed JPEG differs from stb_image_write's");
  emit(ctx, {{"name", name},
             {"cpu", kernels::cpu_paths::cpu_model()},
             {"ms", t.median_ms},
             {"bytes", ours.size()},
             {"quality", quality},
             {"baseline", "stb_image_write JPEG (one thread, the whole image's samples at once)"},
             {"stb_ms", base.median_ms},
             {"same_bytes_as_stb", true},
             {"time_ratio_vs_stb", t.median_ms / base.median_ms}});
}

// PNG reading as `dcsr sr` reads its inputs: io/png_decode.h (one inflate,
// its checks on the way) against what it replaced, stb_image's decode after
// the data check's own inflate (io/image_checks.h), and against stb_image's
// decode alone (no check), in the same run. Two files of the same pixels:
// ours (fixed Huffman codes) and stb_image_write's (fixed codes too, other
// matches); the chunk walk and CRCs (check_image_bytes) are timed on all sides.
void bench_png_decode(const Context& ctx, int64_t w, int64_t h) {
  const std::string name = "png_decode_" + std::to_string(w) + "x" + std::to_string(h);
  if (!selected(ctx, name)) return;
  const std::vector<uint8_t> pixels = smooth_photo(w, h);
  std::string stb_file;
  DCSR_CHECK(stbi_write_png_to_func(append, &stb_file, int(w), int(h), 3, pixels.data(), int(w * 3)),
             "stbi_write_png failed");
  const std::pair<std::string, std::string> files[] = {{"ours", encode_png(pixels.data(), w, h, 3)},
                                                       {"stb_image_write", stb_file}};
  for (const auto& [writer, file] : files) {
    // Validate: the same pixels as stb_image, and as were written.
    const PngPixels ours = decode_png_rgb(file, check_image_bytes(file, name, false), name);
    DCSR_CHECK(std::memcmp(ours.pixels.get(), pixels.data(), pixels.size()) == 0, name,
               ": the decoded pixels differ from the written ones");
    const auto* bytes = reinterpret_cast<const stbi_uc*>(file.data());
    int dw = 0, dh = 0, dc = 0;
    Timing t = time_ms(
        [&] {
          decode_png_rgb(file, check_image_bytes(file, name, /*inflate_png=*/false), name);
        },
        1, repeats_for(ctx, 5));
    Timing checked_stb = time_ms(
        [&] {
          check_image_bytes(file, name, /*inflate_png=*/true);
          stbi_image_free(stbi_load_from_memory(bytes, int(file.size()), &dw, &dh, &dc, 3));
        },
        1, repeats_for(ctx, 5));
    Timing stb = time_ms(
        [&] {
          check_image_bytes(file, name, /*inflate_png=*/false);
          stbi_image_free(stbi_load_from_memory(bytes, int(file.size()), &dw, &dh, &dc, 3));
        },
        1, repeats_for(ctx, 5));
    emit(ctx, {{"name", name + "_" + writer},
               {"cpu", kernels::cpu_paths::cpu_model()},
               {"ms", t.median_ms},
               {"bytes", file.size()},
               {"baseline", "stb_image's decode after the data check's own inflate (what dcsr read before)"},
               {"checked_stb_ms", checked_stb.median_ms},
               {"stb_alone_ms", stb.median_ms},
               {"time_ratio_vs_checked_stb", t.median_ms / checked_stb.median_ms},
               {"time_ratio_vs_stb_alone", t.median_ms / stb.median_ms}});
  }
}

}  // namespace

DCSR_BENCH(io) {
  bench_png_encode(ctx, 4032, 3024);
  bench_png_decode(ctx, 2016, 1512);
  bench_jpeg_encode(ctx, 4032, 3024);
}

}  // namespace dcsr::bench
