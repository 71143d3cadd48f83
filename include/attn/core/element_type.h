// The element types of attention inputs and outputs: fp32, bfloat16 and IEEE half (f16).
//
// A 16-bit element is held as its bit pattern in a uint16_t. Widening (to_float) is exact;
// rounding (from_float) is to nearest even, a NaN stays a quiet NaN, a value beyond the type's
// range becomes ±inf, and f16 keeps its subnormals.
#pragma once

#include <cstdint>
#include <string_view>

namespace attn {

enum class ElementType {
  kF32,   // float
  kBF16,  // bfloat16: 8 exponent bits, 7 mantissa bits
  kF16,   // IEEE binary16: 5 exponent bits, 10 mantissa bits
};

// "f32", "bf16" or "f16".
std::string_view element_type_name(ElementType t);

// The float value of the 16-bit pattern `bits` of type t (kBF16 or kF16); exact.
float to_float(uint16_t bits, ElementType t);

// The 16-bit pattern of x rounded to type t (kBF16 or kF16), to nearest even.
uint16_t from_float(float x, ElementType t);

// x rounded to type t and widened back; x itself for kF32.
float round_to(float x, ElementType t);

}  // namespace attn
