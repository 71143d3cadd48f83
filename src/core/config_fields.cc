#include "attn/core/config_fields.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "attn/core/error.h"

namespace attn {

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};

double numeric_value(const BoundField::Pointer& p) {
  return std::visit(Overloaded{[](const std::string*) { return 0.0; },
                               [](const BoundField::Text&) { return 0.0; },
                               [](const bool* v) { return *v ? 1.0 : 0.0; },
                               [](const auto* v) { return static_cast<double>(*v); }},
                    p);
}

std::string bound_text(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

void read_value(const nlohmann::json& v, const BoundField& f, std::string_view what) {
  std::visit(
      Overloaded{[&](const BoundField::Text& t) {
                   ATTN_CHECK(v.is_string(), what, ": `", f.name, "` must be a string");
                   t.set(v.get<std::string>());
                 },
                 [&](std::string* s) {
                   ATTN_CHECK(v.is_string(), what, ": `", f.name, "` must be a string");
                   *s = v.get<std::string>();
                 },
                 [&](bool* b) {
                   ATTN_CHECK(v.is_boolean(), what, ": `", f.name, "` must be true or false");
                   *b = v.get<bool>();
                 },
                 [&](int64_t* i) {
                   ATTN_CHECK(v.is_number_integer(), what, ": `", f.name, "` must be an integer");
                   *i = v.get<int64_t>();
                 },
                 [&](uint64_t* u) {
                   ATTN_CHECK(v.is_number_unsigned(), what, ": `", f.name,
                              "` must be a non-negative integer");
                   *u = v.get<uint64_t>();
                 },
                 [&](auto* x) {
                   ATTN_CHECK(v.is_number(), what, ": `", f.name, "` must be a number");
                   *x = v.get<std::remove_pointer_t<decltype(x)>>();
                 }},
      f.pointer);
}

}  // namespace

std::string bound_fields_to_json(std::span<const BoundField> fields) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const BoundField& f : fields) {
    if (!f.write) continue;
    std::visit(Overloaded{[&](const BoundField::Text& t) { j[f.name] = t.get(); },
                          [&](const auto* v) { j[f.name] = *v; }},
               f.pointer);
  }
  return j.dump();
}

void bound_fields_from_json(std::string_view text, std::span<const BoundField> fields,
                            std::string_view what) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  ATTN_CHECK(j.is_object(), what, ": not a JSON object");
  for (const auto& [key, value] : j.items()) {
    const BoundField* field = nullptr;
    for (const BoundField& f : fields) {
      if (key == f.name) field = &f;
    }
    ATTN_CHECK(field != nullptr, what, ": unknown field '", key, "'");
    read_value(value, *field, what);
  }
}

void check_bound_fields(std::span<const BoundField> fields, std::string_view what) {
  for (const BoundField& f : fields) {
    const double v = numeric_value(f.pointer);
    ATTN_CHECK(!std::isnan(v), what, ": `", f.name, "` must be a number, got NaN");
    if (f.min_exclusive) {
      ATTN_CHECK(v > f.min, what, ": `", f.name, "` must be greater than ", bound_text(f.min),
                 ", got ", bound_text(v));
    } else {
      ATTN_CHECK(v >= f.min, what, ": `", f.name, "` must be at least ", bound_text(f.min),
                 ", got ", bound_text(v));
    }
    if (f.max_exclusive) {
      ATTN_CHECK(v < f.max, what, ": `", f.name, "` must be less than ", bound_text(f.max),
                 ", got ", bound_text(v));
    } else {
      ATTN_CHECK(v <= f.max, what, ": `", f.name, "` must be at most ", bound_text(f.max), ", got ",
                 bound_text(v));
    }
  }
}

}  // namespace attn
