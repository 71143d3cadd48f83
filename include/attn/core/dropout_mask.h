// The keep bits of attention dropout: a pure function of (seed, offset, b, h, i, j), so the
// reference, every SIMD target of the flash kernels and the backward pass (which regenerates the
// mask instead of storing it) all see the same mask, whatever the tiling or the thread count.
//
// For (batch b, query head h) a 64-bit key is drawn by splitmix64 from (seed, offset, b, h); its
// halves key the hashes of the query row i and of the key column j:
//   R(i) = mix_a(i ⊕ key_lo)     C(j) = mix_b(j ⊕ key_hi)     keep ⟺ mix_a(R(i) ⊕ C(j)) ≥ t(p)
// where mix_a and mix_b are 32-bit integer mixers (xor-shift-multiply; two multiplies each) and
// t(p) = round(p · 2³²). R and C are bijections of i and j, so the elements of a row (or of a
// column) all hash distinct values; the kernels compute R once per row and C once per key of a
// tile, which leaves one mixer per element: 32-bit multiplies, shifts and xors in SIMD lanes.
// Rows and columns up to 2³² are distinguished.
#pragma once

#include <cmath>
#include <cstdint>

namespace attn {

// One splitmix64 step (Steele, Lea and Flood 2014): adds the golden-ratio increment to x, then
// mixes the 64 bits.
inline uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// 32-bit mixers (xor-shift-multiply, two rounds), bijective on uint32.
inline uint32_t dropout_mix_a(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7FEB352Du;
  x ^= x >> 15;
  x *= 0x846CA68Bu;
  return x ^ (x >> 16);
}
inline uint32_t dropout_mix_b(uint32_t x) {
  x ^= x >> 16;
  x *= 0x21F0AAADu;
  x ^= x >> 15;
  x *= 0x735A2D97u;
  return x ^ (x >> 15);
}

// The keys of the row and column hashes of one (batch, query head), and the indices of row 0 and
// column 0 in the whole attention problem (nonzero for a block of it: AttentionParams'
// query_start and key_start), so that a block draws the whole's mask.
struct DropoutKeys {
  uint32_t row;
  uint32_t col;
  int64_t row_start = 0;
  int64_t col_start = 0;
};

inline DropoutKeys dropout_keys(uint64_t seed, uint64_t offset, int64_t b, int64_t h) {
  uint64_t x = splitmix64(splitmix64(seed) ^ offset);
  x = splitmix64(splitmix64(x ^ static_cast<uint64_t>(b)) ^ static_cast<uint64_t>(h));
  return {static_cast<uint32_t>(x), static_cast<uint32_t>(x >> 32)};
}

inline uint32_t dropout_row_hash(const DropoutKeys& k, int64_t i) {
  return dropout_mix_a(static_cast<uint32_t>(k.row_start + i) ^ k.row);
}
inline uint32_t dropout_col_hash(const DropoutKeys& k, int64_t j) {
  return dropout_mix_b(static_cast<uint32_t>(k.col_start + j) ^ k.col);
}

// Elements whose hash is below the threshold are dropped: P(drop) = t / 2³² = p to within 2⁻³³.
inline uint32_t dropout_threshold(float p) {
  return static_cast<uint32_t>(std::llround(static_cast<double>(p) * 4294967296.0));
}

// Whether element (i, j) of (b, h) is kept, from its row and column hashes.
inline bool dropout_keeps(uint32_t row_hash, uint32_t col_hash, uint32_t threshold) {
  return dropout_mix_a(row_hash ^ col_hash) >= threshold;
}

}  // namespace attn
