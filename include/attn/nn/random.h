// Counter-based random numbers: a value is a pure function of (seed, stream, index), so it is
// the same on any thread, in any order, and can be regenerated instead of stored (dropout masks
// in the backward pass; parameter initialisation that does not depend on construction order).
//
// The hash is three rounds of splitmix64 (Steele, Lea and Flood 2014), one per argument.
#pragma once

#include <cstdint>

#include "attn/core/tensor.h"

namespace attn::nn {

// One splitmix64 step: adds the golden-ratio increment to x, then mixes the 64 bits.
uint64_t splitmix64(uint64_t x);

// A random 64-bit value determined by (seed, stream, index).
inline uint64_t counter_hash(uint64_t seed, uint64_t stream, uint64_t index) {
  return splitmix64(splitmix64(splitmix64(seed) ^ stream) ^ index);
}

// A seed for sub-part k of a layer seeded with `seed` (distinct parts draw distinct numbers).
inline uint64_t derive_seed(uint64_t seed, uint64_t k) { return counter_hash(seed, k, ~0ull); }

// Uniform in [0, 1), with 24 random bits (every value is exact in float).
inline float counter_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  return static_cast<float>(counter_hash(seed, stream, index) >> 40) * 0x1.0p-24f;
}

// Standard normal, by Box–Muller on two uniforms drawn from (seed, stream, 2·index + {0, 1}).
float counter_normal(uint64_t seed, uint64_t stream, uint64_t index);

// Fills t with N(0, std²) values: element i is std · counter_normal(seed, stream, i).
void fill_normal(Tensor& t, float std, uint64_t seed, uint64_t stream = 0);

// Fills t with values uniform in [lo, hi): element i from counter_uniform(seed, stream, i).
void fill_uniform(Tensor& t, float lo, float hi, uint64_t seed, uint64_t stream = 0);

// Sets every element of t to `value`.
void fill_constant(Tensor& t, float value);

}  // namespace attn::nn
