// The readers refuse corrupt files (io/image_checks.h): a bit flip anywhere
// in a PNG, image data that fails Adler-32, truncated BMP and JPEG files, JPEG
// scans using tables the file never defines, images over the size limit; every message is one line naming the file.
// Tiny images read fine.
#include <filesystem>

#include "test_io_helpers.h"
#include "test_util.h"

using namespace dcsr;

namespace {

// The message read_image() throws for the file `bytes` (written to `path`), or "" when it reads it.
std::string read_error(const std::string& path, const std::string& bytes) {
  test::write_bytes(path, bytes);
  try {
    read_image(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string bmp_bytes(const std::vector<uint8_t>& rgb, int64_t w, int64_t h) {
  std::string out;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), size_t(size));
  };
  REQUIRE(stbi_write_bmp_to_func(append, &out, int(w), int(h), 3, rgb.data()));
  return out;
}

}  // namespace

TEST_CASE("errors: a bit flip in any byte of any PNG chunk is rejected", "[io][readers]") {
  test::TempDir dir("io_readers");
  const Tensor img = test::test_image(12, 10, 21);
  write_png(dir / "good.png", img);
  const std::string png = test::with_text_chunk(test::read_bytes_of(dir / "good.png"));
  const std::string path = dir / "flipped.png";
  REQUIRE(read_error(path, png).empty());
  const std::vector<test::PngChunk> chunks = test::png_chunks(png);
  REQUIRE(chunks.size() == 4);
  CHECK(chunks[0].type == "IHDR");
  CHECK(chunks[1].type == "tEXt");
  CHECK(chunks[2].type == "IDAT");
  CHECK(chunks[3].type == "IEND");
  // Every byte of the file, the signature and every chunk's length, type,
  // data and CRC, with one bit flipped (a different bit from byte to byte).
  size_t rejected = 0;
  for (size_t at = 0; at < png.size(); ++at) {
    std::string bad = png;
    bad[at] = char(uint8_t(bad[at]) ^ (1u << (at % 8)));
    const std::string message = read_error(path, bad);
    INFO("byte " << at << ": " << message);
    CHECK_THAT(message, Catch::Contains("flipped.png"));
    CHECK(message.find('\n') == std::string::npos);
    rejected += !message.empty();
  }
  CHECK(rejected == png.size());
  CHECK_THAT(read_error(path, png.substr(0, 40) + char(png[40] ^ 1) + png.substr(41)), Catch::Contains("CRC mismatch"));
}

TEST_CASE("errors: PNG image data that fails Adler-32 is rejected even with good CRCs", "[io][readers]") {
  test::TempDir dir("io_readers");
  write_png(dir / "good.png", test::test_image(16, 16, 22));
  const std::string png = test::read_bytes_of(dir / "good.png");
  const test::PngChunk idat = test::png_chunks(png)[1];
  REQUIRE(idat.type == "IDAT");
  const std::string path = dir / "bad_data.png";
  // The Adler-32 itself (the last four bytes of the zlib stream), then bytes
  // of the deflate data, each flip with the chunk's CRC made right again.
  const size_t data = idat.offset + 8;
  std::vector<size_t> positions = {data + idat.length - 1, data + idat.length - 4};
  for (size_t k = 1; k <= 8; ++k) positions.push_back(data + 2 + k * (idat.length - 8) / 9);
  for (size_t at : positions) {
    std::string bad = png;
    bad[at] = char(uint8_t(bad[at]) ^ 0x10);
    test::fix_crc(bad, idat);
    const std::string message = read_error(path, bad);
    INFO("byte " << at << " of IDAT data at " << data);
    CHECK_THAT(message, Catch::Contains("bad_data.png") && Catch::Contains("corrupt PNG"));
    CHECK(message.find("CRC") == std::string::npos);  // the CRC is right: the data check caught it
  }
  // The exact message for a wrong checksum alone.
  std::string bad = png;
  bad[data + idat.length - 1] = char(uint8_t(bad[data + idat.length - 1]) ^ 1);
  test::fix_crc(bad, idat);
  CHECK_THAT(read_error(path, bad), Catch::Contains("Adler-32"));
  // A PNG cut short, at several places.
  for (size_t keep : {size_t(8), size_t(20), size_t(40), png.size() / 2, png.size() - 12, png.size() - 1}) {
    INFO("kept " << keep << " bytes");
    CHECK_THAT(read_error(path, png.substr(0, keep)), Catch::Contains("bad_data.png") && Catch::Contains("truncated"));
  }
}

TEST_CASE("errors: truncated or inconsistent BMP files are rejected", "[io][readers]") {
  test::TempDir dir("io_readers");
  const Tensor img = test::test_image(10, 7, 23);
  const std::string bmp = bmp_bytes(test::interleaved_rgb(img), 7, 10);
  const std::string path = dir / "cut.bmp";
  REQUIRE(read_error(path, bmp).empty());
  test::require_close(read_image(path), quantize(img), 1e-7);
  for (size_t keep : {size_t(10), size_t(30), size_t(54), size_t(60), bmp.size() / 2, bmp.size() - 1}) {
    INFO("kept " << keep << " of " << bmp.size() << " bytes");
    CHECK_THAT(read_error(path, bmp.substr(0, keep)), Catch::Contains("cut.bmp") && Catch::Contains("truncated"));
  }
  // The header's file size larger than the file.
  std::string bigger = bmp;
  bigger[2] = char(uint8_t(bigger[2]) + 100);
  CHECK_THAT(read_error(path, bigger), Catch::Contains("its header says"));
  // The pixel data offset inside the headers.
  std::string inside = bmp;
  inside[10] = 20;
  CHECK_THAT(read_error(path, inside), Catch::Contains("cut.bmp") && Catch::Contains("BMP"));
}

TEST_CASE("errors: truncated or corrupt JPEG files are rejected", "[io][readers]") {
  test::TempDir dir("io_readers");
  const Tensor img = test::test_image(24, 32, 24);
  const std::string jpeg = test::jpeg_bytes(test::interleaved_rgb(img), 32, 24, 90);
  const std::string path = dir / "cut.jpg";
  REQUIRE(read_error(path, jpeg).empty());
  // Cut anywhere: in the headers, in the scan data, just before EOI.
  for (size_t keep = 3; keep < jpeg.size(); keep += std::max<size_t>(1, jpeg.size() / 40)) {
    INFO("kept " << keep << " of " << jpeg.size() << " bytes");
    const std::string message = read_error(path, jpeg.substr(0, keep));
    CHECK_THAT(message, Catch::Contains("cut.jpg") && (Catch::Contains("truncated") || Catch::Contains("corrupt")));
  }
  CHECK_THAT(read_error(path, jpeg.substr(0, jpeg.size() - 2)), Catch::Contains("no end-of-image marker"));
  // Bytes after EOI (some cameras append data) are not part of the image.
  CHECK(read_error(path, jpeg + "trailing data").empty());
  // A segment whose length runs past the end of the file.
  std::string long_segment = jpeg;
  long_segment[4] = char(0xFF), long_segment[5] = char(0xF0);  // APP0's length
  CHECK_THAT(read_error(path, long_segment), Catch::Contains("segment runs past the end"));
  // A frame header claiming far more pixels than the scans could code (at
  // least one bit an 8x8 block): stb_image decoded such a 16384 x 16384
  // header over a few hundred bytes into gigabytes of grey.
  const size_t sof = jpeg.find("\xFF\xC0");
  REQUIRE(sof != std::string::npos);
  std::string huge = jpeg;
  huge[sof + 5] = char(0x40), huge[sof + 6] = 0, huge[sof + 7] = char(0x40), huge[sof + 8] = 0;  // 16384 x 16384
  CHECK_THAT(read_error(path, huge), Catch::Contains("cut.jpg") && Catch::Contains("need at least one bit each"));
  // Frame types stb_image cannot decode are named as such, not as corrupt.
  std::string arithmetic = jpeg;
  arithmetic[sof + 1] = char(0xC9);
  CHECK_THAT(read_error(path, arithmetic), Catch::Contains("cut.jpg") && Catch::Contains("arithmetic-coded JPEG"));
}

// stb_image keeps its tables in memory it never clears: a scan that uses a
// Huffman table the file never defined read wild addresses (the fuzzer's
// crash: dcsr_fuzz --target jpeg --seed 7 --first 146356 --runs 1, a scan
// naming DC table 2). Such files are refused before stb_image sees them.
TEST_CASE("errors: a JPEG scan that uses an undefined table, a table of over 256 codes, or a frame component no scan "
          "carries is rejected",
          "[io][readers]") {
  test::TempDir dir("io_readers");
  const std::string jpeg = test::jpeg_bytes(test::interleaved_rgb(test::test_image(16, 16, 27)), 16, 16, 90);
  const std::string path = dir / "tables.jpg";
  REQUIRE(read_error(path, jpeg).empty());
  const size_t sof = jpeg.find("\xFF\xC0"), sos = jpeg.find("\xFF\xDA");
  REQUIRE(sof != std::string::npos);
  REQUIRE(sos != std::string::npos);
  REQUIRE(uint8_t(jpeg[sof + 9]) == 3);  // three components,
  REQUIRE(uint8_t(jpeg[sos + 4]) == 3);  // all in one scan
  auto edited = [&](size_t at, uint8_t value) {
    std::string bytes = jpeg;
    bytes[at] = char(value);
    return bytes;
  };
  // The third component's table selectors (Td|Ta) in the scan header.
  CHECK_THAT(read_error(path, edited(sos + 10, 0x21)),
             Catch::Contains("tables.jpg") && Catch::Contains("uses Huffman DC table 2"));
  CHECK_THAT(read_error(path, edited(sos + 10, 0x12)), Catch::Contains("uses Huffman AC table 2"));
  // The third component's quantization table in the frame header.
  CHECK_THAT(read_error(path, edited(sof + 18, 2)), Catch::Contains("uses quantization table 2"));
  // A Huffman table of more than 256 codes (stb_image would write past its
  // 257-byte array): the first table's count of 16-bit codes (byte 20 of
  // its segment: FF C4, length, class|id, 16 counts) raised to 255.
  const size_t dht = jpeg.find("\xFF\xC4");
  REQUIRE(dht != std::string::npos);
  CHECK_THAT(read_error(path, edited(dht + 20, 255)), Catch::Contains("bad Huffman table"));
  // The scan names the second component twice and the third not at all.
  CHECK_THAT(read_error(path, edited(sos + 9, uint8_t(jpeg[sos + 7]))),
             Catch::Contains("component " + std::to_string(int(uint8_t(jpeg[sof + 16]))) + " of its frame is in no scan"));
}

TEST_CASE("errors: images over the size limit are refused before decoding, with the limit", "[io][readers]") {
  test::TempDir dir("io_readers");
  write_png(dir / "small.png", test::test_image(4, 4, 25));
  std::string png = test::read_bytes_of(dir / "small.png");
  test::write_be32(png, 16, 60000);  // IHDR width, height
  test::write_be32(png, 20, 60000);
  test::fix_crc(png, test::png_chunks(png)[0]);
  const std::string message = read_error(dir / "huge.png", png);
  CHECK_THAT(message, Catch::Contains("huge.png") && Catch::Contains("60000x60000") &&
                          Catch::Contains("3600.0 Mpixel") && Catch::Contains("268435456 pixels"));
  CHECK_THROWS_WITH(read_image_info(dir / "huge.png"), Catch::Contains("60000x60000"));
  // 16384 x 16385 is one row over 2^28 pixels.
  test::write_be32(png, 16, 16384);
  test::write_be32(png, 20, 16385);
  test::fix_crc(png, test::png_chunks(png)[0]);
  CHECK_THAT(read_error(dir / "over.png", png), Catch::Contains("16384x16385"));
  // Sizes whose product overflows 64 bits (the fuzzer's UBSan finding, png seed 7 run 10249).
  test::write_be32(png, 16, 3199044530u);
  test::write_be32(png, 20, 4294967295u);
  test::fix_crc(png, test::png_chunks(png)[0]);
  CHECK_THAT(read_error(dir / "overflow.png", png), Catch::Contains("3199044530x4294967295"));
  // JPEG: the frame header's size (SOF0: FF C0, length, precision, height, width).
  std::string jpeg = test::jpeg_bytes(test::interleaved_rgb(test::test_image(8, 8, 26)), 8, 8);
  const size_t sof = jpeg.find("\xFF\xC0");
  REQUIRE(sof != std::string::npos);
  jpeg[sof + 5] = jpeg[sof + 6] = jpeg[sof + 7] = jpeg[sof + 8] = char(0xFF);
  CHECK_THAT(read_error(dir / "huge.jpg", jpeg), Catch::Contains("huge.jpg") && Catch::Contains("65535x65535"));
  // BMP: width and height in the info header.
  std::string bmp = bmp_bytes(test::interleaved_rgb(test::test_image(4, 4, 27)), 4, 4);
  bmp[18] = bmp[19] = bmp[22] = bmp[23] = 0, bmp[20] = bmp[24] = 1;  // 65536 x 65536
  CHECK_THAT(read_error(dir / "huge.bmp", bmp), Catch::Contains("huge.bmp") && Catch::Contains("65536x65536"));
}

TEST_CASE("forward: tiny images (1x1, 2x2, 3x5) read fine in every format", "[io][readers]") {
  test::TempDir dir("io_readers");
  for (auto [h, w] : {std::pair<int64_t, int64_t>{1, 1}, {2, 2}, {3, 5}, {5, 3}}) {
    INFO(w << "x" << h);
    const Tensor img = test::test_image(h, w, uint64_t(30 + h * w));
    write_png(dir / "t.png", img);
    test::require_close(read_image(dir / "t.png"), quantize(img), 1e-7);
    ImageWriteOptions deep, best_jpeg;
    deep.bit_depth = 16, best_jpeg.jpeg_quality = 100;
    write_image(dir / "t16.png", img, deep);
    test::require_close(read_image(dir / "t16.png"), img, 1e-5);
    test::write_bytes(dir / "t.bmp", bmp_bytes(test::interleaved_rgb(img), w, h));
    test::require_close(read_image(dir / "t.bmp"), quantize(img), 1e-7);
    write_image(dir / "t.jpg", img, best_jpeg);
    const Tensor jpeg = read_image(dir / "t.jpg");
    REQUIRE(jpeg.shape() == Shape{1, 3, h, w});
    test::require_close(jpeg, img, 0.1);
    const ImageInfo info = read_image_info(dir / "t.jpg");
    CHECK(info.height == h);
    CHECK(info.width == w);
  }
}

TEST_CASE("forward: a compact image holds what read_image gives, bit for bit, and crops it", "[io][readers]") {
  test::TempDir dir("io_readers");
  const Tensor img = test::test_image(13, 17, 61);
  write_png(dir / "eight.png", img);
  ImageWriteOptions deep;
  deep.bit_depth = 16;
  write_image(dir / "sixteen.png", img, deep);
  // A JPEG turned by its EXIF orientation (6): the compact image is upright too.
  test::write_bytes(dir / "turned.jpg",
                    test::with_exif(test::jpeg_bytes(test::interleaved_rgb(img), 17, 13), test::exif_tiff(6, false)));
  for (const char* name : {"eight.png", "sixteen.png", "turned.jpg"}) {
    INFO(name);
    const Tensor full = read_image(dir / name);
    const CompactImage compact = read_image_compact(dir / name);
    CHECK(compact.is_u8() == (std::string(name) != "sixteen.png"));  // 8 bits: a quarter of the memory
    CHECK(compact.height() == full.size(2));
    CHECK(compact.width() == full.size(3));
    CHECK(test::count_bit_differences(compact.to_tensor(), full) == 0);
    // Crops reaching past every side read zeros there, the image's values inside.
    for (const auto& [top, left] : {std::pair<int64_t, int64_t>{-3, -2}, {5, 9}, {-1, 12}, {40, 40}}) {
      const Tensor got = compact.crop(top, left, 9, 11), want = crop_with_zeros(full, top, left, 9, 11);
      REQUIRE(got.shape() == Shape{1, 3, 9, 11});
      CHECK(test::count_bit_differences(got, want) == 0);
    }
  }
  // crop_with_zeros itself, against the index arithmetic, on one channel.
  const Tensor grey = narrow(img, 1, 0, 1);
  const std::vector<float> v = crop_with_zeros(grey, -2, 3, 4, 6).to_vector<float>(), src = grey.to_vector<float>();
  for (int64_t y = 0; y < 4; ++y)
    for (int64_t x = 0; x < 6; ++x) {
      const int64_t sy = y - 2, sx = x + 3;
      CHECK(v[size_t(y * 6 + x)] == (sy >= 0 && sy < 13 && sx < 17 ? src[size_t(sy * 17 + sx)] : 0.0f));
    }
}
