// `dcsr resize`: one image to another size with the dataset resampler
// (resize_antialias: MATLAB-style bicubic, antialiased when shrinking). Used
// to make test inputs of a given size (tools/make_results.sh). The output's
// format follows its extension (io/image_io.h: write_image).
#include <cstdio>
#include <iostream>

#include "apps/dcsr/cli.h"
#include "autograd/ops/image.h"
#include "io/exif.h"
#include "io/image_io.h"

namespace dcsr::cli {

namespace {

int run_resize(const CommandInfo& self, const std::vector<std::string>& argv) {
  Args args(self.name, self.options, argv);
  if (args.help()) {
    std::cout << command_help(self);
    return 0;
  }
  const std::string in_path = args.require("in"), out_path = args.require("out"), size = args.require("size");
  long long w = 0, h = 0;
  char rest = 0;
  if (std::sscanf(size.c_str(), "%lldx%lld%c", &w, &h, &rest) != 2 || w < 1 || h < 1 || w > 65535 || h > 65535)
    throw UsageError("dcsr resize: --size expects WIDTHxHEIGHT, each side 1 to 65535 (e.g. 4032x3024), got '" + size + "'");
  if (w * h > kMaxImagePixels)  // what any reader of the output would refuse, before gigabytes are made
    throw UsageError("dcsr resize: --size " + size + " is " + std::to_string(w * h) + " pixels, more than the " +
                     std::to_string(kMaxImagePixels) + " (2^28) an image may have");
  ImageWriteOptions write_options;
  const int64_t bit_depth = args.get_int("bit-depth", 8), quality = args.get_int("quality", write_options.jpeg_quality);
  if (bit_depth != 8 && bit_depth != 16)
    throw UsageError("dcsr resize: option --bit-depth expects 8 or 16, got '" + args.get("bit-depth") + "'");
  if (quality < 1 || quality > 100)
    throw UsageError("dcsr resize: option --quality expects an integer from 1 to 100, got '" + args.get("quality") +
                     "'");
  write_options.bit_depth = int(bit_depth), write_options.jpeg_quality = int(quality);
  apply_threads(args);
  OutputFiles outputs;
  outputs.declare_input(in_path, "in");
  outputs.declare(out_path, "out");
  check_image_output(out_path, write_options);  // the extension, before any work
  PhotoMetadata metadata;
  Tensor image = read_image(in_path, &metadata);
  write_options.icc_profile = metadata.icc_profile;  // the same colour space as the input
  write_options.exif = exif_for_output(metadata.exif, w, h);
  const Tensor resized = resize_antialias(image, h, w);
  outputs.write(out_path, [&](const std::string& path) { write_image(path, resized, write_options); });
  outputs.commit();
  std::cout << "wrote " << out_path << " (" << w << "x" << h << " from " << image.size(3) << "x" << image.size(2)
            << ")\n";
  return 0;
}

}  // namespace

CommandInfo resize_command() {
  CommandInfo c;
  c.name = "resize";
  c.summary = "resize an image (bicubic, antialiased when shrinking) and save it as PNG or JPEG";
  c.usage = "dcsr resize --in IMAGE --out OUT.png|OUT.jpg --size WxH [--bit-depth 8|16] [--quality Q]";
  c.details = "The resampler of dcsr prepare (MATLAB imresize's bicubic); the aspect ratio is not kept. The output's "
              "format follows its extension: .png (8-bit, or 16-bit with --bit-depth 16) or .jpg/.jpeg (--quality).";
  c.options = {{"in", "IMAGE", "input image (PNG, JPEG, BMP, HEIC; its orientation (JPEG EXIF, PNG eXIf, HEIF) is applied)"},
               {"out", "OUT", "output image: .png or .jpg/.jpeg"},
               {"size", "WxH", "output width x height in pixels"},
               {"bit-depth", "8|16", "PNG bits per sample (default 8; JPEG: 8 only)"},
               {"quality", "Q", "JPEG quality from 1 to 100 (default 95)"},
               {"threads", "N", "CPU threads"}};
  c.run = run_resize;
  return c;
}

}  // namespace dcsr::cli
