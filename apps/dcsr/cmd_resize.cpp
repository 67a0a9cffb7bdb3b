// `dcsr resize`: one image to another size with the dataset resampler
// (resize_antialias: MATLAB-style bicubic, antialiased when shrinking). Used
// to make test inputs of a given size (tools/make_results.sh).
#include <cstdio>
#include <iostream>

#include "apps/dcsr/cli.h"
#include "autograd/ops/image.h"
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
    throw UsageError("dcsr resize: --size expects WIDTHxHEIGHT (e.g. 4032x3024), got '" + size + "'");
  apply_threads(args);
  OutputFiles outputs;
  outputs.declare(out_path, "out");
  Tensor image = read_image(in_path);
  write_png(out_path, resize_antialias(image, h, w));
  outputs.written(out_path);
  outputs.commit();
  std::cout << "wrote " << out_path << " (" << w << "x" << h << " from " << image.size(3) << "x" << image.size(2)
            << ")\n";
  return 0;
}

}  // namespace

CommandInfo resize_command() {
  CommandInfo c;
  c.name = "resize";
  c.summary = "resize an image (bicubic, antialiased when shrinking) and save it as PNG";
  c.usage = "dcsr resize --in IMAGE --out OUT.png --size WxH";
  c.details = "The resampler of dcsr prepare (MATLAB imresize's bicubic); the aspect ratio is not kept.";
  c.options = {{"in", "IMAGE", "input image (PNG, JPEG, BMP)"},
               {"out", "OUT.png", "output PNG"},
               {"size", "WxH", "output width x height in pixels"},
               {"threads", "N", "CPU threads"}};
  c.run = run_resize;
  return c;
}

}  // namespace dcsr::cli
