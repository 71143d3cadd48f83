// Scalar conversions between float and the 16-bit element types, on the bit patterns.
#include "attn/core/element_type.h"

#include <bit>
#include <cstdint>

#include "attn/core/error.h"

namespace attn {

namespace {

uint16_t bf16_from_float(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // NaN
  const uint32_t lsb = (u >> 16) & 1u;
  return static_cast<uint16_t>((u + 0x7fffu + lsb) >> 16);
}

// Round to nearest even into binary16: normal numbers by their bits, subnormals by the integer
// count of the smallest step 2^-24 (the float of |x|·2^24 rounds exactly that way).
uint16_t f16_from_float(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // ≥ 65520 rounds to inf
  if (a < 0x38800000u) {                                               // below 2^-14: subnormal
    // |x| · 2^24 < 1024 is rounded to nearest even by adding and removing 2^23.
    const float scaled = std::bit_cast<float>(a) * 16777216.0f;
    const float rounded = (scaled + 8388608.0f) - 8388608.0f;
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(rounded));
  }
  const uint32_t lsb = (a >> 13) & 1u;
  const uint32_t r = (a + 0xfffu + lsb) >> 13;  // exponent and mantissa, may carry into exponent
  return static_cast<uint16_t>(sign | (r - ((127u - 15u) << 10)));
}

float f16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    const float magnitude = static_cast<float>(mantissa) * (1.0f / 16777216.0f);
    return sign ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exponent + 127u - 15u) << 23) | (mantissa << 13));
}

}  // namespace

std::string_view element_type_name(ElementType t) {
  switch (t) {
    case ElementType::kF32:
      return "f32";
    case ElementType::kBF16:
      return "bf16";
    case ElementType::kF16:
      return "f16";
  }
  return "?";
}

float to_float(uint16_t bits, ElementType t) {
  ATTN_CHECK(t != ElementType::kF32, "to_float: f32 is not a 16-bit type");
  if (t == ElementType::kBF16) return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
  return f16_to_float(bits);
}

uint16_t from_float(float x, ElementType t) {
  ATTN_CHECK(t != ElementType::kF32, "from_float: f32 is not a 16-bit type");
  return t == ElementType::kBF16 ? bf16_from_float(x) : f16_from_float(x);
}

float round_to(float x, ElementType t) {
  return t == ElementType::kF32 ? x : to_float(from_float(x, t), t);
}

}  // namespace attn
