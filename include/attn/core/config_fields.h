// One table per config struct: each field declared once — its JSON name, the member, its range
// and default — and the struct gets JSON writing, JSON reading (unknown keys, wrong types and
// out-of-range values are errors naming the field) and range checks from that table.
//
//   struct GptConfig { int64_t context = 256; float dropout = 0.0f; ... };
//   constexpr ConfigField<GptConfig> kGptFields[] = {
//       {"context", &GptConfig::context, 1, 1 << 20},
//       {"dropout", &GptConfig::dropout, 0.0, 0.999},
//   };
//   std::string text = config_to_json(c, kGptFields);
//   GptConfig c = config_from_json<GptConfig>(text, kGptFields, "model config");
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace attn {

enum class ConfigWrite {
  kAlways,         // always written
  kUnlessDefault,  // written only when it differs from the default (kept out of older files)
};

// A field kept as text in JSON but as another type in C (an enum): its two conversions, which
// throw attn::Error on a text they do not know.
template <class C>
struct TextMember {
  std::string (*get)(const C&);
  void (*set)(C&, const std::string&);
};

// One field of config struct C: the member it binds and the inclusive range of its values.
template <class C>
struct ConfigField {
  using Member = std::variant<int64_t C::*, uint64_t C::*, float C::*, double C::*, bool C::*,
                              std::string C::*, TextMember<C>>;
  const char* name;
  Member member;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  ConfigWrite write = ConfigWrite::kAlways;
  bool min_exclusive = false;  // the value must be greater than min, not equal
  bool max_exclusive = false;  // the value must be less than max, not equal
};

// A field bound to one object: the table's type-erased form, used by the JSON code.
struct BoundField {
  struct Text {  // a TextMember bound to its object
    std::function<std::string()> get;
    std::function<void(const std::string&)> set;
  };
  using Pointer = std::variant<int64_t*, uint64_t*, float*, double*, bool*, std::string*, Text>;
  const char* name;
  Pointer pointer;
  double min, max;
  bool write;          // false: left out of the JSON
  bool min_exclusive;  // the value must be greater than min
  bool max_exclusive;  // the value must be less than max
};

// The JSON object of the bound fields, in table order.
std::string bound_fields_to_json(std::span<const BoundField> fields);
// Reads `text` (a JSON object) into the bound fields; `what` names the config in errors
// ("model config: unknown field 'x'"). Fields absent from the text keep their values.
void bound_fields_from_json(std::string_view text, std::span<const BoundField> fields,
                            std::string_view what);
// Throws attn::Error naming the first field outside its range ("model config: `context` must be
// at least 1, got 0").
void check_bound_fields(std::span<const BoundField> fields, std::string_view what);

// Binds table `fields` to the object `c`.
template <class C>
std::vector<BoundField> bind_fields(const C& c,
                                    std::type_identity_t<std::span<const ConfigField<C>>> fields) {
  std::vector<BoundField> bound;
  static const C defaults{};
  for (const ConfigField<C>& f : fields) {
    BoundField b{f.name, {}, f.min, f.max, true, f.min_exclusive, f.max_exclusive};
    C& object = const_cast<C&>(c);
    std::visit(
        [&](auto member) {
          if constexpr (std::is_same_v<decltype(member), TextMember<C>>) {
            b.pointer = BoundField::Text{
                [&object, member] { return member.get(object); },
                [&object, member](const std::string& text) { member.set(object, text); }};
            if (f.write == ConfigWrite::kUnlessDefault)
              b.write = member.get(c) != member.get(defaults);
          } else {
            b.pointer = &(object.*member);
            if (f.write == ConfigWrite::kUnlessDefault) b.write = c.*member != defaults.*member;
          }
        },
        f.member);
    bound.push_back(b);
  }
  return bound;
}

template <class C>
std::string config_to_json(const C& c,
                           std::type_identity_t<std::span<const ConfigField<C>>> fields) {
  return bound_fields_to_json(bind_fields(c, fields));
}

// Reads `text` over `defaults` and checks every field's range.
template <class C>
C config_from_json(std::string_view text,
                   std::type_identity_t<std::span<const ConfigField<C>>> fields, C defaults,
                   std::string_view what) {
  const std::vector<BoundField> bound = bind_fields(defaults, fields);
  bound_fields_from_json(text, bound, what);
  check_bound_fields(bound, what);
  return defaults;
}

template <class C>
void check_config_ranges(const C& c, std::type_identity_t<std::span<const ConfigField<C>>> fields,
                         std::string_view what) {
  check_bound_fields(bind_fields(c, fields), what);
}

}  // namespace attn
