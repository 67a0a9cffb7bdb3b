// The shared pieces of registration.h: the similarity's two directions and
// the JSON form of a Registration (what `dcsr register --json` writes and
// `dcsr sr --registration FILE.json` reads).
#include "dcsr/registration/registration.h"

#include <cmath>

#include "tensor/error.h"

namespace dcsr {

std::array<double, 2> Similarity::to_wide(double x_t, double y_t) const {
  const double c = std::cos(angle) / scale, s = std::sin(angle) / scale;
  return {c * x_t - s * y_t + tx, s * x_t + c * y_t + ty};
}

std::array<double, 2> ToTele::operator()(double x_w, double y_w) const {
  // The inverse rotation, times the scale, of the offset from the translation.
  const double dx = x_w - tx, dy = y_w - ty;
  return {c * dx + s * dy, -s * dx + c * dy};
}

ToTele Similarity::to_tele_map() const { return {std::cos(angle) * scale, std::sin(angle) * scale, tx, ty}; }

std::array<double, 2> Similarity::to_tele(double x_w, double y_w) const { return to_tele_map()(x_w, y_w); }

namespace {

constexpr double kPi = 3.14159265358979323846;

double number_field(const nlohmann::json& j, const char* key, const std::string& where, const std::string& source) {
  DCSR_CHECK(j.is_object() && j.contains(key) && j.at(key).is_number(), source, ": registration JSON needs a number '",
             key, "' in ", where);
  const double v = j.at(key).get<double>();
  DCSR_CHECK(std::isfinite(v), source, ": registration JSON field '", key, "' is not finite");
  return v;
}

}  // namespace

nlohmann::json registration_to_json(const Registration& r) {
  const Similarity& t = r.tele_to_wide;
  nlohmann::json quad = nlohmann::json::array();
  for (const auto& corner : r.fov_quad) quad.push_back({corner[0], corner[1]});
  return {{"format", "dcsr-registration-1"},
          {"convention", "tele -> wide pixel coordinates: x_w = (cos(a) x_t - sin(a) y_t) / scale + tx, "
                         "y_w = (sin(a) x_t + cos(a) y_t) / scale + ty; pixel (r, c) covers [c, c+1) x [r, r+1)"},
          {"tele_to_wide",
           {{"scale", t.scale}, {"angle_rad", t.angle}, {"angle_deg", t.angle * 180.0 / kPi}, {"tx", t.tx},
            {"ty", t.ty}}},
          {"confidence", r.confidence},
          {"fov_quad", quad},
          {"identity", r.identity}};
}

Registration registration_from_json(const nlohmann::json& j, const std::string& source) {
  DCSR_CHECK(j.is_object(), source, ": a registration JSON must be an object");
  DCSR_CHECK(j.contains("format") && j.at("format") == "dcsr-registration-1", source,
             ": not a registration JSON of this format ('format' must be \"dcsr-registration-1\", as dcsr register "
             "--json writes)");
  DCSR_CHECK(j.contains("tele_to_wide") && j.at("tele_to_wide").is_object(), source,
             ": registration JSON needs an object 'tele_to_wide'");
  const nlohmann::json& t = j.at("tele_to_wide");
  Registration r;
  r.tele_to_wide.scale = number_field(t, "scale", "'tele_to_wide'", source);
  r.tele_to_wide.angle = number_field(t, "angle_rad", "'tele_to_wide'", source);
  r.tele_to_wide.tx = number_field(t, "tx", "'tele_to_wide'", source);
  r.tele_to_wide.ty = number_field(t, "ty", "'tele_to_wide'", source);
  DCSR_CHECK(r.tele_to_wide.scale > 0, source, ": registration JSON scale must be positive, got ", r.tele_to_wide.scale);
  // Telephoto pixels per wide pixel: the telephoto is the closer view (a
  // scale under 1 is a swapped pair), and past 64 its view is a few pixels.
  DCSR_CHECK(r.tele_to_wide.scale >= 1.0 && r.tele_to_wide.scale <= 64.0, source, ": registration JSON scale ",
             r.tele_to_wide.scale, " is outside 1-64 (telephoto pixels per wide pixel)");
  r.confidence = number_field(j, "confidence", "the top level", source);
  DCSR_CHECK(r.confidence >= -1.0 && r.confidence <= 1.0, source, ": registration JSON confidence ", r.confidence,
             " is outside [-1, 1] (a correlation)");
  DCSR_CHECK(j.contains("fov_quad") && j.at("fov_quad").is_array() && j.at("fov_quad").size() == 4, source,
             ": registration JSON needs 'fov_quad' with 4 corners");
  for (size_t i = 0; i < 4; ++i) {
    const nlohmann::json& corner = j.at("fov_quad")[i];
    DCSR_CHECK(corner.is_array() && corner.size() == 2 && corner[0].is_number() && corner[1].is_number(), source,
               ": registration JSON 'fov_quad' corner ", i, " must be [x, y]");
    r.fov_quad[i] = {corner[0].get<double>(), corner[1].get<double>()};
  }
  DCSR_CHECK(j.contains("identity") && j.at("identity").is_boolean(), source,
             ": registration JSON needs a boolean 'identity'");
  r.identity = j.at("identity").get<bool>();
  return r;
}

}  // namespace dcsr
