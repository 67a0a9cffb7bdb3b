// Checkpoint and tensor-file validation (issue 17): every rule of
// read_checkpoint / parse_checkpoint on a crafted file (offsets, overlap,
// bounds, dtype, shapes, header shape, non-finite weights), the one-line
// summary of strict-loading mismatches, and `dcsr export` of a checkpoint that
// does not load strictly (nothing written, an existing output kept).
#include <tuple>
#include <cmath>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "nn/checkpoint.h"
#include "nn/layers.h"
#include "tensor/serialize.h"
#include "test_files.h"

using namespace dcsr;
using test::TempDir;

namespace {

// A checkpoint file from a header and the data region after it (the layout
// of nn/checkpoint.h: magic, u64 header length, JSON, zeros to 64 bytes).
std::string checkpoint_bytes(const nlohmann::json& header, const std::string& data) {
  const std::string text = header.dump();
  std::string out = "DCSRCKPT";
  const uint64_t length = text.size();
  out.append(reinterpret_cast<const char*>(&length), 8);
  out += text;
  out.resize((16 + text.size() + 63) / 64 * 64, '\0');
  return out + data;
}

// Magic, length and `text`, nothing after it.
std::string header_only(const std::string& text) {
  const uint64_t length = text.size();
  return "DCSRCKPT" + std::string(reinterpret_cast<const char*>(&length), 8) + text;
}

nlohmann::json entry(const std::string& name, const std::string& dtype, const nlohmann::json& shape,
                     const nlohmann::json& offset, const nlohmann::json& nbytes) {
  return {{"name", name}, {"dtype", dtype}, {"shape", shape}, {"offset", offset}, {"nbytes", nbytes}};
}

nlohmann::json header_with(const nlohmann::json& tensors) {
  return {{"format", "dcsr-checkpoint"}, {"version", 1}, {"config", nlohmann::json::object()},
          {"tensors", tensors}, {"extra", nlohmann::json::object()}};
}

// 256 bytes of float32 ones: room for a few small tensors.
std::string ones_data() {
  std::string data(256, '\0');
  const float one = 1.0f;
  for (size_t i = 0; i < data.size(); i += 4) std::memcpy(&data[i], &one, 4);
  return data;
}

// parse_checkpoint's message for `tensors`, or "" when it loads.
// (A vector: a braced single entry would not become a JSON array.)
std::string error_of(const std::vector<nlohmann::json>& tensors, const std::string& data = ones_data()) {
  try {
    parse_checkpoint(checkpoint_bytes(header_with(nlohmann::json(tensors)), data), "x.ckpt");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find('\n') == std::string::npos);
    return msg;
  }
  return "";
}

}  // namespace

TEST_CASE("errors: checkpoint offsets must be non-negative, aligned, inside the data and not overlap",
          "[nn][checkpoint]") {
  // The two well-formed tensors load.
  REQUIRE(error_of({entry("a", "float32", {4}, 0, 16), entry("b", "float32", {2, 2}, 64, 16)}).empty());
  CHECK_THAT(error_of({entry("a", "float32", {4}, -64, 16)}),
             Catch::Contains("tensor 'a': offset must be a non-negative integer, got -64"));
  CHECK_THAT(error_of({entry("a", "float32", {4}, 32, 16)}), Catch::Contains("offset 32 is not a multiple of 64"));
  CHECK_THAT(error_of({entry("a", "float32", {4}, 256, 16)}), Catch::Contains("truncated") && Catch::Contains("'a'"));
  CHECK_THAT(error_of({entry("a", "float32", {4}, uint64_t(1) << 63, 16)}), Catch::Contains("truncated"));
  CHECK_THAT(error_of({entry("a", "float32", {4}, 18446744073709551552ULL, 16)}), Catch::Contains("truncated"));
  CHECK_THAT(error_of({entry("a", "float32", {64}, 0, 256), entry("b", "float32", {4}, 192, 16)}),
             Catch::Contains("tensors 'a' and 'b' overlap"));
  CHECK_THAT(error_of({entry("b", "float32", {4}, 64, 16), entry("a", "float32", {32}, 0, 128)}),
             Catch::Contains("'a' and 'b' overlap"));
  // Empty tensors take no bytes and overlap nothing.
  CHECK(error_of({entry("a", "float32", {0, 3}, 0, 0), entry("b", "float32", {4}, 0, 16)}).empty());
  CHECK_THAT(error_of({entry("a", "float32", {4}, "0", 16)}), Catch::Contains("offset must be a non-negative integer"));
  CHECK_THAT(error_of({entry("a", "float32", {4}, 0.0, 16)}), Catch::Contains("offset must be a non-negative integer"));
}

TEST_CASE("errors: checkpoint shapes, dtypes and byte counts are checked without overflow", "[nn][checkpoint]") {
  CHECK_THAT(error_of({entry("a", "float32", {2.5, 2}, 0, 20)}),
             Catch::Contains("tensor 'a': a size must be a non-negative integer, got 2.5"));
  CHECK_THAT(error_of({entry("a", "float32", {-1, -4}, 0, 16)}), Catch::Contains("a size must be a non-negative"));
  CHECK_THAT(error_of({entry("a", "float32", {true}, 0, 4)}), Catch::Contains("a size must be a non-negative"));
  CHECK_THAT(error_of({entry("a", "float32", 4, 0, 16)}), Catch::Contains("not an array"));
  CHECK_THAT(error_of({entry("a", "float32", nlohmann::json::array({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}),
                             0, 4)}),
             Catch::Contains("at most 16 sizes"));
  // 2^62 * 2^62 elements overflow 64 bits; so does 2^62 elements of 4 bytes.
  const uint64_t big = uint64_t(1) << 62;
  CHECK_THAT(error_of({entry("a", "float32", {big, big}, 0, 0)}), Catch::Contains("more than the"));
  CHECK_THAT(error_of({entry("a", "float32", {big}, 0, 0)}), Catch::Contains("more than the"));
  CHECK_THAT(error_of({entry("a", "float32", {9223372036854775808ULL}, 0, 0)}), Catch::Contains("is 9223372036854775808"));
  CHECK_THAT(error_of({entry("a", "float32", {4}, 0, 32)}),
             Catch::Contains("nbytes 32 does not match shape (4) of float32 (16 bytes)"));
  CHECK_THAT(error_of({entry("a", "float16", {4}, 0, 8)}), Catch::Contains("unknown dtype \"float16\""));
  CHECK_THAT(error_of({entry("a", "", {4}, 0, 16)}), Catch::Contains("unknown dtype"));
  nlohmann::json numeric_dtype = entry("a", "float32", {4}, 0, 16);
  numeric_dtype["dtype"] = 0;
  CHECK_THAT(error_of({numeric_dtype}), Catch::Contains("unknown dtype 0"));
  CHECK(error_of({entry("a", "int64", {2}, 0, 16)}).empty());
}

TEST_CASE("errors: the checkpoint header must have the documented shape", "[nn][checkpoint]") {
  CHECK_THROWS_WITH(parse_checkpoint(checkpoint_bytes(header_with(nlohmann::json::object()), ""), "x.ckpt"),
                    Catch::Contains("no \"tensors\" array"));
  CHECK_THAT(error_of({1}), Catch::Contains("tensor entry 0 is not a JSON object"));
  nlohmann::json nameless = entry("a", "float32", {4}, 0, 16);
  nameless.erase("name");
  CHECK_THAT(error_of({nameless}), Catch::Contains("tensor entry 0 has no \"name\""));
  nlohmann::json no_offset = entry("a", "float32", {4}, 0, 16);
  no_offset.erase("offset");
  CHECK_THAT(error_of({no_offset}), Catch::Contains("tensor 'a' has no \"offset\""));
  CHECK_THAT(error_of({entry("", "float32", {4}, 0, 16)}), Catch::Contains("not a non-empty string"));
  CHECK_THAT(error_of({entry("a", "float32", {4}, 0, 16), entry("a", "float32", {4}, 64, 16)}),
             Catch::Contains("duplicate tensor 'a'"));
  // A name with a line break and 10 KB of text stays a short line.
  const std::string long_name = "x\n" + std::string(10000, 'y');
  const std::string msg = error_of({entry(long_name, "float16", {4}, 0, 8)});
  CHECK(msg.size() < 300);

  nlohmann::json header = header_with(nlohmann::json::array());
  std::string text;
  header["config"] = "n_feats=4";
  CHECK_THROWS_WITH(parse_checkpoint(checkpoint_bytes(header, ""), "x.ckpt"),
                    Catch::Contains("\"config\" is not an object"));
  header = header_with(nlohmann::json::array());
  header["version"] = "1";
  CHECK_THROWS_WITH(parse_checkpoint(checkpoint_bytes(header, ""), "x.ckpt"), Catch::Contains("checkpoint version \"1\""));
  // JSON nested 100000 deep (copying or printing it would recurse that deep).
  text = header_with(nlohmann::json::array()).dump();
  text.insert(text.size() - 1, ",\"deep\":" + std::string(100000, '[') + std::string(100000, ']'));
  CHECK_THROWS_WITH(parse_checkpoint(header_only(text), "x.ckpt"), Catch::Contains("nested deeper than 64"));
  // The limit as before: a value inside at most 64 arrays and objects (the
  // root object is one of them); 64 arrays inside the root hold nothing more.
  for (const auto& [arrays, inner, ok] : {std::make_tuple(64, "", true), std::make_tuple(65, "", false),
                                          std::make_tuple(64, "1", false), std::make_tuple(63, "1", true)}) {
    text = header_with(nlohmann::json::array()).dump();
    text.insert(text.size() - 1, ",\"d\":" + std::string(size_t(arrays), '[') + inner + std::string(size_t(arrays), ']'));
    INFO(arrays << " arrays holding '" << inner << "'");
    if (ok) CHECK_NOTHROW(parse_checkpoint(header_only(text), "x.ckpt"));
    else CHECK_THROWS_WITH(parse_checkpoint(header_only(text), "x.ckpt"), Catch::Contains("nested deeper than 64"));
  }
  // Brackets and escaped quotes inside strings are not nesting.
  text = header_with(nlohmann::json::array()).dump();
  text.insert(text.size() - 1, ",\"s\":\"" + std::string(200, '[') + "\\\"" + std::string(200, '{') + "\"");
  CHECK_NOTHROW(parse_checkpoint(header_only(text), "x.ckpt"));
  // A long flat header of many small objects parses in linear time (quadratic
  // with the old callback parser: 400000 objects took 33 s; the test would
  // take minutes, not fail, so it only runs it).
  text = header_with(nlohmann::json::array()).dump();
  std::string objects = "[{}";
  for (int i = 1; i < 400000; ++i) objects += ",{}";
  text.insert(text.size() - 1, ",\"extra\":{\"x\":" + objects + "]}");
  CHECK(parse_checkpoint(header_only(text), "x.ckpt").extra["x"].size() == 400000);
  // A header that is the whole file (no padding, no data) is fine without tensors.
  CHECK_NOTHROW(parse_checkpoint(header_only(header_with(nlohmann::json::array()).dump()), "x.ckpt"));
}

TEST_CASE("errors: non-finite weights are refused at load and at save, naming the tensor", "[nn][checkpoint]") {
  for (const double bad : {std::nan(""), std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}) {
    std::string data = ones_data();
    const float f = float(bad);
    std::memcpy(&data[64 + 8], &f, 4);  // element 2 of "w"
    CHECK_THAT(error_of({entry("v", "float32", {4}, 0, 16), entry("w", "float32", {4}, 64, 16)}, data),
               Catch::Contains("tensor 'w' holds a non-finite value") && Catch::Contains("at element 2"));
    std::memcpy(&data[128], &bad, 8);
    CHECK_THAT(error_of({entry("d", "float64", {2}, 128, 16)}, data), Catch::Contains("tensor 'd' holds a non-finite"));
  }
  // int64 tensors hold any bits.
  std::string data(16, '\xff');
  CHECK(error_of({entry("i", "int64", {2}, 0, 16)}, data).empty());

  TempDir dir("ckpt_nonfinite");
  Checkpoint ck;
  ck.tensors = {{"ok", ones({2})}, {"bad", from_vector(std::vector<float>{1.f, NAN}, {2})}};
  CHECK_THROWS_WITH(save_checkpoint(dir / "x.ckpt", ck),
                    Catch::Contains("x.ckpt") && Catch::Contains("tensor 'bad' holds a non-finite value"));
  CHECK_FALSE(std::filesystem::exists(dir / "x.ckpt"));
}

TEST_CASE("forward: read_checkpoint_metadata reads the header, checks it, and never the tensors' values",
          "[nn][checkpoint]") {
  TempDir dir("ckpt_metadata");
  nlohmann::json header = header_with({entry("v", "float32", {4}, 0, 16), entry("w", "float32", {4}, 64, 16)});
  header["config"] = {{"n_feats", 4}};
  header["extra"] = {{"loop", {{"best_val_psnr", 31.5}}}};
  std::string data = ones_data();
  const float nan = std::nanf("");
  std::memcpy(&data[64 + 8], &nan, 4);  // a value read_checkpoint refuses
  test::write_bytes(dir / "nan.ckpt", checkpoint_bytes(header, data));
  CHECK_THROWS_WITH(read_checkpoint(dir / "nan.ckpt"), Catch::Contains("tensor 'w' holds a non-finite value"));
  const Checkpoint metadata = read_checkpoint_metadata(dir / "nan.ckpt");
  CHECK(metadata.extra["loop"]["best_val_psnr"] == 31.5);
  CHECK(metadata.config["n_feats"] == 4);
  CHECK(metadata.tensors.empty());
  // The header's rules hold, its tensor entries against the file's size too.
  const auto error_of_file = [&](const std::string& name, const std::string& bytes) {
    test::write_bytes(dir / name, bytes);
    try {
      read_checkpoint_metadata(dir / name);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK_THAT(error_of_file("cut.ckpt", checkpoint_bytes(header, data.substr(0, 70))),
             Catch::Contains("cut.ckpt: truncated checkpoint (tensor 'w'"));
  CHECK_THAT(error_of_file("magic.ckpt", "DCSRCKPX" + checkpoint_bytes(header, data).substr(8)),
             Catch::Contains("magic.ckpt: not a dcsr checkpoint"));
  CHECK_THAT(error_of_file("short.ckpt", header_only(header.dump()).substr(0, 40)),
             Catch::Contains("short.ckpt: truncated checkpoint (header of"));
  CHECK_THAT(error_of_file("json.ckpt", header_only("{\"format\": ")), Catch::Contains("json.ckpt: corrupt checkpoint header"));
  nlohmann::json old_version = header;
  old_version["version"] = 2;
  CHECK_THAT(error_of_file("version.ckpt", checkpoint_bytes(old_version, data)),
             Catch::Contains("version.ckpt: checkpoint version 2"));
  CHECK_THROWS_WITH(read_checkpoint_metadata(dir.str()), Catch::Contains("it is a folder"));
  CHECK_THROWS_WITH(read_checkpoint_metadata(dir / "none.ckpt"), Catch::Contains("none.ckpt"));
}

TEST_CASE("errors: checkpoint files that are folders, devices or missing give one line naming them", "[nn][checkpoint]") {
  TempDir dir("ckpt_files");
  CHECK_THROWS_WITH(read_checkpoint(dir.str()), Catch::Contains(dir.str()) && Catch::Contains("it is a folder"));
  CHECK_THROWS_WITH(read_checkpoint("/dev/null"), Catch::Contains("not a regular file"));
  CHECK_THROWS_WITH(read_checkpoint(dir / "none.ckpt"), Catch::Contains("cannot open checkpoint") &&
                                                            Catch::Contains("No such file"));
  CHECK_THROWS_WITH(load_tensors(dir.str()), Catch::Contains("tensor file") && Catch::Contains("it is a folder"));
}

TEST_CASE("errors: strict-loading mismatches are one line with counts and at most three names each",
          "[nn][checkpoint]") {
  Generator gen(3);
  nn::Conv2d conv(3, 4, 3, gen);
  Checkpoint ck;
  ck.tensors = module_state(conv);
  for (int i = 0; i < 1000; ++i) ck.tensors.emplace_back("stray." + std::to_string(i) + std::string(50, 'z'), ones({1}));
  try {
    load_parameters_strict(conv, ck);
    FAIL("no error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(msg.size() < 600);
    CHECK_THAT(msg, Catch::Contains("1000 unexpected (e.g. stray.0"));
    CHECK_THAT(msg, !Catch::Contains("stray.999"));
  }
  Checkpoint wrong;
  wrong.tensors = {{"weight", ones({5, 3, 3, 3})}};
  CHECK_THROWS_WITH(load_parameters_strict(conv, wrong),
                    Catch::Equals("load_parameters_strict: the checkpoint does not match the model: 1 missing (bias); "
                                  "1 with the wrong shape (weight (checkpoint (5, 3, 3, 3), model (4, 3, 3, 3)))"));
}

TEST_CASE("errors: tensor files reject overflowing shapes, repeated names and trailing bytes", "[tensor][io]") {
  TempDir dir("tensor_file");
  save_tensors(dir / "t.bin", {{"a", ones({2, 3})}});
  const std::string good = test::read_bytes_of(dir / "t.bin");
  REQUIRE(parse_tensors(good, "t.bin").size() == 1);
  CHECK_THROWS_WITH(parse_tensors(good + "x", "t.bin"), Catch::Contains("1 bytes after the last of its 1 tensors"));
  // The first dim (at 16 + 4 + 1 + 4 = 25) set to 2^62: 2^62 * 3 * 4 bytes overflow.
  std::string huge = good;
  const int64_t big = int64_t(1) << 62;
  std::memcpy(&huge[25], &big, 8);
  CHECK_THROWS_WITH(parse_tensors(huge, "t.bin"), Catch::Contains("tensor 'a' has shape"));
  const int64_t negative = -2;
  std::memcpy(&huge[25], &negative, 8);
  CHECK_THROWS_WITH(parse_tensors(huge, "t.bin"), Catch::Contains("negative size"));
  save_tensors(dir / "t2.bin", {{"a", ones({1})}, {"a", ones({1})}});
  CHECK_THROWS_WITH(load_tensors(dir / "t2.bin"), Catch::Contains("tensor 'a' appears twice"));
}

TEST_CASE("cli: export of a checkpoint that does not load strictly writes nothing and keeps an existing output",
          "[cli][checkpoint]") {
  TempDir dir("export_strict");
  test::write_model(dir / "model.ckpt", 4);
  // The same model with one tensor dropped: readable, not a loadable model.
  Checkpoint broken = read_checkpoint(dir / "model.ckpt");
  broken.tensors.pop_back();
  save_checkpoint(dir / "broken.ckpt", broken);

  test::RunResult r = test::run_dcsr("export --model broken.ckpt --out new.ckpt", dir.str());
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("1 missing"));
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') <= 1);
  CHECK_FALSE(std::filesystem::exists(dir / "new.ckpt"));

  test::write_bytes(dir / "old.ckpt", "an existing file");
  r = test::run_dcsr("export --model broken.ckpt --out old.ckpt", dir.str());
  CHECK(r.status == 1);
  CHECK(test::read_bytes_of(dir / "old.ckpt") == "an existing file");
  // Nothing else was left in the folder (no temporary files).
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.str())) files += e.is_regular_file();
  CHECK(files == 3);
}
