// write_image (io/image_io.h): the format follows the extension (.png 8 or
// 16 bit, .jpg/.jpeg with a quality), anything else is refused naming the
// extension; NaN or infinite values are refused naming the file and the count.
#include <stb_image.h>

#include <filesystem>

#include "test_io_helpers.h"
#include "test_util.h"

using namespace dcsr;
namespace fs = std::filesystem;

namespace {

size_t files_in(const std::string& dir) {
  size_t n = 0;
  for (auto& e : fs::directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

}  // namespace

TEST_CASE("forward: write_image writes PNG for .png, 8-bit and 16-bit", "[io][write]") {
  test::TempDir dir("io_write");
  const Tensor img = test::test_image(9, 14, 11);
  write_image(dir / "a.png", img);
  write_image(dir / "b.PNG", img);
  for (const char* name : {"a.png", "b.PNG"}) {
    const std::string bytes = test::read_bytes_of(dir / name);
    CHECK(starts_with(bytes, "\x89PNG"));
    CHECK(uint8_t(bytes[24]) == 8);  // IHDR bit depth
    test::require_close(read_image(dir / name), quantize(img), 1e-7);
  }
  CHECK(test::read_bytes_of(dir / "a.png") == test::read_bytes_of(dir / "b.PNG"));

  ImageWriteOptions deep;
  deep.bit_depth = 16;
  write_image(dir / "c.png", img, deep);
  const std::string bytes = test::read_bytes_of(dir / "c.png");
  CHECK(uint8_t(bytes[24]) == 16);
  CHECK(stbi_is_16_bit((dir / "c.png").c_str()));
  // 16 bits keep the value to within half a step of 1/65535 (8 bits: 1/510).
  const std::vector<float> back = read_image(dir / "c.png").to_vector<float>(), want = img.to_vector<float>();
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::abs(double(back[i]) - double(want[i])));
  CHECK(worst <= 0.5 / 65535 + 1e-7);
  // The samples are big-endian, as PNG requires: a known value read back exactly.
  write_image(dir / "d.png", from_vector<float>({0.0f, 1.0f, float(0x1234) / 65535.0f}, {3, 1, 1}), deep);
  int w = 0, h = 0, n = 0;
  uint16_t* px = stbi_load_16((dir / "d.png").c_str(), &w, &h, &n, 3);
  REQUIRE(px != nullptr);
  CHECK(px[0] == 0);
  CHECK(px[1] == 65535);
  CHECK(px[2] == 0x1234);
  stbi_image_free(px);
  // Grey (one channel) in 16 bits.
  write_image(dir / "e.png", from_vector<float>({0.25f, 0.75f}, {1, 1, 2}), deep);
  CHECK(read_image(dir / "e.png").to_vector<float>() ==
        std::vector<float>{16384.0f / 65535, 49151.0f / 65535, 16384.0f / 65535, 49151.0f / 65535,
                           16384.0f / 65535, 49151.0f / 65535});
}

TEST_CASE("forward: write_image writes JPEG for .jpg and .jpeg, with a quality", "[io][write]") {
  test::TempDir dir("io_write");
  const Tensor img = test::test_image(32, 48, 12);
  ImageWriteOptions best, small;
  best.jpeg_quality = 100;
  small.jpeg_quality = 50;
  write_image(dir / "best.jpg", img, best);
  write_image(dir / "small.JPEG", img, small);
  write_image(dir / "default.jpeg", img);
  for (const char* name : {"best.jpg", "small.JPEG", "default.jpeg"}) {
    INFO(name);
    const std::string bytes = test::read_bytes_of(dir / name);
    CHECK(starts_with(bytes, "\xFF\xD8\xFF"));  // SOI: a real JPEG, not PNG bytes
    const Tensor back = read_image(dir / name);
    REQUIRE(back.shape() == Shape{1, 3, 32, 48});
    // Lossy, but the same picture: at quality 50 (colour subsampled) this
    // textured image is off by 0.06 on average; another picture by about 0.2.
    const std::vector<float> x = back.to_vector<float>(), y = img.to_vector<float>();
    double sum = 0;
    for (size_t i = 0; i < x.size(); ++i) sum += std::abs(double(x[i]) - double(y[i]));
    CHECK(sum / double(x.size()) < 0.1);
  }
  CHECK(test::read_bytes_of(dir / "small.JPEG").size() < test::read_bytes_of(dir / "best.jpg").size());
  test::require_close(read_image(dir / "best.jpg"), img, 0.03);
  // Grey images (one channel) are written grey (stb_image_write stores them as YCbCr).
  std::vector<float> grey = test::test_image(16, 16, 13).to_vector<float>();
  grey.resize(256);  // the first channel
  write_image(dir / "grey.jpg", from_vector<float>(grey, {1, 1, 16, 16}), best);
  const std::vector<float> back = read_image(dir / "grey.jpg").to_vector<float>();
  for (size_t i = 0; i < 256; ++i) {
    CHECK(std::abs(back[i] - back[256 + i]) <= 2.0f / 255);
    CHECK(std::abs(back[i] - back[512 + i]) <= 2.0f / 255);
    CHECK(std::abs(back[i] - grey[i]) <= 0.03f);
  }
}

TEST_CASE("errors: write_image refuses unknown extensions and bad options, writing nothing", "[io][write]") {
  test::TempDir dir("io_write");
  const Tensor img = test::test_image(8, 8, 14);
  for (const char* name : {"a.bmp", "a.tiff", "a.webp", "noextension", "a.png.tmp"}) {
    INFO(name);
    CHECK_THROWS_WITH(write_image(dir / name, img), Catch::Contains(name) && Catch::Contains("unknown extension"));
    CHECK_THROWS_WITH(check_image_output(dir / name), Catch::Contains("unknown extension"));
  }
  CHECK_THROWS_WITH(write_image(dir / "a.tiff", img), Catch::Contains("'.tiff'"));
  CHECK_THROWS_WITH(write_image(dir / "a", img), Catch::Contains("''"));
  ImageWriteOptions deep_jpeg;
  deep_jpeg.bit_depth = 16;
  CHECK_THROWS_WITH(write_image(dir / "a.jpg", img, deep_jpeg),
                    Catch::Contains("a.jpg") && Catch::Contains("8-bit only"));
  ImageWriteOptions odd_depth;
  odd_depth.bit_depth = 12;
  CHECK_THROWS_WITH(write_image(dir / "a.png", img, odd_depth), Catch::Contains("bit depth 12"));
  for (int q : {0, 101, -5}) {
    ImageWriteOptions bad_quality;
    bad_quality.jpeg_quality = q;
    CHECK_THROWS_WITH(write_image(dir / "a.jpg", img, bad_quality), Catch::Contains("quality"));
  }
  CHECK_NOTHROW(check_image_output(dir / "x.PNG"));
  CHECK_NOTHROW(check_image_output(dir / "x.Jpg"));
  CHECK(files_in(dir.str()) == 0);
}

TEST_CASE("errors: an image with NaN or Inf is refused naming the file and the count", "[io][write]") {
  test::TempDir dir("io_write");
  Tensor img = test::test_image(4, 5, 15);
  float* d = img.data<float>();
  d[0] = std::nanf("");
  d[7] = std::numeric_limits<float>::infinity();
  d[59] = -std::numeric_limits<float>::infinity();
  ImageWriteOptions deep;
  deep.bit_depth = 16;
  // An existing file of that name is kept byte for byte.
  write_image(dir / "keep.png", test::test_image(4, 5, 16));
  const std::string before = test::read_bytes_of(dir / "keep.png");
  for (const char* name : {"keep.png", "a.jpg", "b.png"}) {
    INFO(name);
    CHECK_THROWS_WITH(write_image(dir / name, img),
                      Catch::Contains(name) && Catch::Contains("3 of its 60 values are NaN or infinite"));
    CHECK_THROWS_WITH(write_png(dir / name, img),
                      Catch::Contains(name) && Catch::Contains("3 of its 60 values are NaN or infinite"));
  }
  CHECK_THROWS_WITH(write_image(dir / "c.png", img, deep), Catch::Contains("NaN"));
  CHECK_THROWS_WITH(write_png(dir / "d.png", img.to(kFloat64)), Catch::Contains("3 of its 60"));
  CHECK(test::read_bytes_of(dir / "keep.png") == before);
  CHECK(files_in(dir.str()) == 1);
}

TEST_CASE("forward: ImageFileWriter writes band by band the bytes write_image writes", "[io][write]") {
  test::TempDir dir("io_write");
  const Tensor img = test::test_image(37, 21, 17);  // (1, 3, 37, 21)
  ImageWriteOptions deep, rough;
  deep.bit_depth = 16, rough.jpeg_quality = 60;
  struct Case {
    const char* name;
    ImageWriteOptions options;
  };
  for (const Case& k : {Case{"a.png", {}}, Case{"b.png", deep}, Case{"c.jpg", rough}}) {
    INFO(k.name);
    write_image(dir / (std::string("whole_") + k.name), img, k.options);
    const std::string want = test::read_bytes_of(dir / (std::string("whole_") + k.name));
    const std::string path = dir / (std::string("bands_") + k.name);
    ImageFileWriter writer(path, 3, 37, 21, k.options);
    for (int64_t y = 0; y < 37; y += 10) writer.write_rows(narrow(img, 2, y, std::min<int64_t>(10, 37 - y)));
    CHECK_FALSE(fs::exists(path));  // nothing under the name before finish()
    writer.finish();
    CHECK(test::read_bytes_of(path) == want);
  }
  // An 8-bit PNG whatever the extension, as write_png.
  write_png(dir / "p.jpg", img);
  ImageFileWriter as_png(dir / "q.jpg", 3, 37, 21, {}, /*png_whatever_the_extension=*/true);
  as_png.write_rows(img);
  as_png.finish();
  CHECK(test::read_bytes_of(dir / "q.jpg") == test::read_bytes_of(dir / "p.jpg"));
}

TEST_CASE("errors: ImageFileWriter leaves nothing behind when a band is bad or the rows run short", "[io][write]") {
  test::TempDir dir("io_write");
  Tensor img = test::test_image(12, 5, 19);
  img.data<float>()[2 * 12 * 5 + 7 * 5 + 1] = std::nanf("");  // blue, row 7
  write_image(dir / "keep.png", test::test_image(4, 5, 16));
  const std::string before = test::read_bytes_of(dir / "keep.png");
  for (const char* name : {"keep.png", "new.png", "new.jpg"}) {
    INFO(name);
    ImageFileWriter writer(dir / name, 3, 12, 5);
    writer.write_rows(narrow(img, 2, 0, 6));  // rows 0-5 are fine
    CHECK_THROWS_WITH(writer.write_rows(narrow(img, 2, 6, 6)),
                      Catch::Contains(name) && Catch::Contains("1 of the 90 values of rows 6 to 11 are NaN"));
  }
  {
    ImageFileWriter short_of_rows(dir / "short.png", 3, 12, 5);
    short_of_rows.write_rows(narrow(img, 2, 0, 6));
    CHECK_THROWS_WITH(short_of_rows.finish(), Catch::Contains("short.png") && Catch::Contains("6 of its 12 rows"));
    CHECK_FALSE(fs::exists(dir / "short.png"));
  }
  {
    ImageFileWriter too_many(dir / "many.png", 3, 4, 5);
    CHECK_THROWS_WITH(too_many.write_rows(narrow(img, 2, 0, 6)),
                      Catch::Contains("many.png") && Catch::Contains("do not fit"));
    ImageFileWriter abandoned(dir / "abandoned.png", 3, 4, 5);  // destroyed before finish()
    abandoned.write_rows(narrow(img, 2, 0, 2));
  }
  CHECK_THROWS_WITH(ImageFileWriter(dir / "grey_alpha.png", 2, 4, 5), Catch::Contains("1 or 3 channels"));
  CHECK_THROWS_WITH(ImageFileWriter((dir / "missing") + "/a.png", 3, 4, 5), Catch::Contains("does not exist"));
  CHECK_THROWS_WITH(ImageFileWriter(dir / "huge.jpg", 3, 70000, 5), Catch::Contains("65535"));
  CHECK(test::read_bytes_of(dir / "keep.png") == before);
  CHECK(files_in(dir.str()) == 1);  // keep.png, and no temporary file
  // Once finished, the writer takes no more rows.
  ImageFileWriter done(dir / "done.png", 3, 6, 5);
  done.write_rows(narrow(img, 2, 0, 6));
  done.finish();
  CHECK_THROWS_WITH(done.write_rows(narrow(img, 2, 0, 1)), Catch::Contains("finished"));
  CHECK_THROWS_WITH(done.finish(), Catch::Contains("finished"));
}
