#include "infer/kv_codec.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace attn::infer {

uint16_t f16_bits(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const float a = std::fabs(x);
  if (a >= 65504.0f) return sign | 0x7BFFu;
  if (a < 6.103515625e-05f) {  // below the smallest normal: a multiple of 2^-24, rounded to even
    return sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.0f));
  }
  const uint32_t abits = std::bit_cast<uint32_t>(a);
  const uint32_t mantissa = abits & 0x7FFFFFu;
  uint32_t half = ((((abits >> 23) - 127u + 15u) << 10) | (mantissa >> 13));
  const uint32_t rest = mantissa & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // a carry bumps the exponent
  return sign | static_cast<uint16_t>(half);
}

float f16_value(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  const uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0) {
    const float magnitude = static_cast<float>(mantissa) * (1.0f / 16777216.0f);
    return sign ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exponent - 15u + 127u) << 23) | (mantissa << 13));
}

uint16_t bf16_bits(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
  if ((rounded & 0x7F80u) == 0x7F80u)
    return static_cast<uint16_t>((bits >> 16 & 0x8000u) | 0x7F7Fu);
  return static_cast<uint16_t>(rounded);
}

float bf16_value(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

namespace {

void encode_q8(const float* x, int64_t dim, int8_t* codes, float* scales) {
  for (int64_t g0 = 0; g0 < dim; g0 += kKvQ8Group) {
    const int64_t g1 = std::min(dim, g0 + kKvQ8Group);
    float amax = 0.0f;
    for (int64_t d = g0; d < g1; ++d) amax = std::max(amax, std::fabs(x[d]));
    const float scale = amax / 127.0f;
    scales[g0 / kKvQ8Group] = scale;
    for (int64_t d = g0; d < g1; ++d) {
      const float code = scale > 0.0f ? std::nearbyint(x[d] / scale) : 0.0f;
      codes[d] = static_cast<int8_t>(std::clamp(code, -127.0f, 127.0f));
    }
  }
}

}  // namespace

void encode_row(KvDtype dtype, const float* x, int64_t dim, std::byte* codes, float* scales) {
  switch (dtype) {
    case KvDtype::kF32:
      std::memcpy(codes, x, static_cast<size_t>(dim) * sizeof(float));
      return;
    case KvDtype::kF16:
    case KvDtype::kBF16: {
      uint16_t* out = reinterpret_cast<uint16_t*>(codes);
      for (int64_t d = 0; d < dim; ++d) {
        out[d] = dtype == KvDtype::kF16 ? f16_bits(x[d]) : bf16_bits(x[d]);
      }
      return;
    }
    case KvDtype::kQ8:
      encode_q8(x, dim, reinterpret_cast<int8_t*>(codes), scales);
      return;
  }
}

void decode_row(KvDtype dtype, const std::byte* codes, const float* scales, int64_t dim, float* x) {
  const uint16_t* halves = reinterpret_cast<const uint16_t*>(codes);
  const int8_t* bytes = reinterpret_cast<const int8_t*>(codes);
  for (int64_t d = 0; d < dim; ++d) {
    switch (dtype) {
      case KvDtype::kF32:
        x[d] = reinterpret_cast<const float*>(codes)[d];
        break;
      case KvDtype::kF16:
        x[d] = f16_value(halves[d]);
        break;
      case KvDtype::kBF16:
        x[d] = bf16_value(halves[d]);
        break;
      case KvDtype::kQ8:
        x[d] = static_cast<float>(bytes[d]) * scales[d / kKvQ8Group];
        break;
    }
  }
}

}  // namespace attn::infer
