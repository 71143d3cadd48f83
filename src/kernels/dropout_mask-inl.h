// The attention-dropout keep bits of attn/core/dropout_mask.h in SIMD lanes, per SIMD target.
//
// A tile has one index (query or key) in its rows and the other in its lanes. Since
//   keep(i, j) ⟺ mix_a(R(i) ⊕ C(j)) ≥ t,
// the hashes of the lanes' indices are computed once per tile into a small array and that of
// the row once per row, which leaves one mixer per element (two 32-bit multiplies, three
// shift-xors, one compare): the same code for both orientations.
#if defined(ATTN_KERNELS_DROPOUT_MASK_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTN_KERNELS_DROPOUT_MASK_INL_H_
#undef ATTN_KERNELS_DROPOUT_MASK_INL_H_
#else
#define ATTN_KERNELS_DROPOUT_MASK_INL_H_
#endif

#include <cstdint>

#include "attn/core/attention_params.h"
#include "attn/core/dropout_mask.h"
#include "hwy/highway.h"
#include "kernels/tile_gemm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DU = hn::RebindToUnsigned<DF>;
using VU = hn::Vec<DU>;

// Lane hashes of a tile: at most this many lanes (the padded query tile, the padded key tile).
constexpr int64_t kMaxDropoutLanes = 128;
static_assert(kQueryTile <= kMaxDropoutLanes && kKeyTile <= kMaxDropoutLanes,
              "a tile's lane hashes must fit kMaxDropoutLanes");

// What a tile needs to apply dropout: the (batch, query head)'s keys, the threshold and the
// factor 1/(1 − p) of the kept weights.
struct DropoutTile {
  DropoutKeys keys;
  uint32_t threshold;
  float factor;
};

HWY_INLINE DropoutTile MakeDropoutTile(const AttentionParams& p, int64_t b, int64_t h) {
  DropoutKeys keys = dropout_keys(p.dropout_seed, p.dropout_offset, b, h);
  keys.row_start = p.query_start + p.packed_row_begin;
  keys.col_start = p.key_start + p.packed_key_begin;
  return {keys, dropout_threshold(p.dropout_p), p.dropout_scale()};
}

// dropout_mix_a on every lane.
HWY_INLINE VU MixA(VU x) {
  const DU du;
  x = hn::Xor(x, hn::ShiftRight<16>(x));
  x = hn::Mul(x, hn::Set(du, 0x7FEB352Du));
  x = hn::Xor(x, hn::ShiftRight<15>(x));
  x = hn::Mul(x, hn::Set(du, 0x846CA68Bu));
  return hn::Xor(x, hn::ShiftRight<16>(x));
}

// dropout_mix_b on every lane.
HWY_INLINE VU MixB(VU x) {
  const DU du;
  x = hn::Xor(x, hn::ShiftRight<16>(x));
  x = hn::Mul(x, hn::Set(du, 0x21F0AAADu));
  x = hn::Xor(x, hn::ShiftRight<15>(x));
  x = hn::Mul(x, hn::Set(du, 0x735A2D97u));
  return hn::Xor(x, hn::ShiftRight<15>(x));
}

// out[l] = R(first + l) (rows = true) or C(first + l) for l < n (n a multiple of the lanes), the
// indices counted from the keys' row_start or col_start.
HWY_INLINE void DropoutLaneHashes(const DropoutKeys& keys, bool rows, int64_t first, int64_t n,
                                  uint32_t* out) {
  const DU du;
  const size_t N = hn::Lanes(du);
  const VU key = hn::Set(du, rows ? keys.row : keys.col);
  VU index = hn::Iota(du, static_cast<uint32_t>((rows ? keys.row_start : keys.col_start) + first));
  for (int64_t l = 0; l < n; l += N) {
    const VU x = hn::Xor(index, key);
    hn::Store(rows ? MixA(x) : MixB(x), du, out + l);
    index = hn::Add(index, hn::Set(du, static_cast<uint32_t>(N)));
  }
}

// The keep mask of one vector: lanes' hashes against the row's hash.
HWY_INLINE hn::Mask<DF> KeepMask(const uint32_t* lane_hash, uint32_t row_hash, uint32_t threshold) {
  const DU du;
  const hn::RebindToSigned<DF> di;
  const VU h = MixA(hn::Xor(hn::Load(du, lane_hash), hn::Set(du, row_hash)));
  // Unsigned h ≥ t as a signed compare of both with the sign bit flipped.
  const VU flip = hn::Set(du, 0x80000000u);
  const auto drop = hn::Lt(hn::BitCast(di, hn::Xor(h, flip)),
                           hn::BitCast(di, hn::Xor(hn::Set(du, threshold), flip)));
  return hn::RebindMask(DF(), hn::Not(drop));
}

// row[l] = keep ? row[l] · factor : 0 for l < n, factor 1 leaving the kept values as they are.
HWY_INLINE void DropoutRow(const uint32_t* lane_hash, uint32_t row_hash, uint32_t threshold,
                           float factor, int64_t n, float* row) {
  const DF df;
  const size_t N = hn::Lanes(df);
  const VF f = hn::Set(df, factor);
  for (int64_t l = 0; l < n; l += N) {
    const VF x = hn::Load(df, row + l);
    const VF kept = factor == 1.0f ? x : hn::Mul(x, f);
    hn::Store(hn::IfThenElseZero(KeepMask(lane_hash + l, row_hash, threshold), kept), df, row + l);
  }
}

// A tile with queries [q0, q0 + lanes) in the lanes and keys [k0, k0 + keys) in the rows:
// tile[j][i] = keep ? tile[j][i] · factor : 0.
HWY_INLINE void DropoutQueriesInLanes(const DropoutTile& d, int64_t q0, int64_t lanes, int64_t k0,
                                      int64_t keys, float factor, float* tile) {
  HWY_ALIGN uint32_t lane_hash[kMaxDropoutLanes];
  DropoutLaneHashes(d.keys, true, q0, lanes, lane_hash);
  for (int64_t j = 0; j < keys; ++j) {
    DropoutRow(lane_hash, dropout_col_hash(d.keys, k0 + j), d.threshold, factor, lanes,
               tile + j * lanes);
  }
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // ATTN_KERNELS_DROPOUT_MASK_INL_H_
