// JSON as text for files and logs: bytes that are not UTF-8 (a file name in
// another encoding, recorded in a dataset's prepare.json or a run's config)
// are replaced by U+FFFD instead of failing the write after the work
// (nlohmann's dump throws on them by default).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace dcsr {

// indent -1: one line; otherwise that many spaces per level.
template <typename Json>
std::string json_text(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

}  // namespace dcsr
