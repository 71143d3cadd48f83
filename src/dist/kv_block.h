// A rank's K/V block as it travels round the ring: K [B, Hkv, L/P, D] then V [B, Hkv, L/P, Dv],
// contiguous in one buffer so that one message carries both.
#pragma once

#include <cstdint>
#include <memory>

#include "attn/core/attention_params.h"
#include "attn/core/tensor.h"
#include "attn/dist/sharding.h"

namespace attn::dist {

struct KvBlockShape {
  RowShape k;  // [B, Hkv, rows, D]
  RowShape v;  // [B, Hkv, rows, Dv]
  int64_t rows;

  static KvBlockShape of(const AttentionParams& p) {
    return {{p.batch, p.kv_heads, p.head_dim}, {p.batch, p.kv_heads, p.v_head_dim}, p.kv_len};
  }
  int64_t k_floats() const { return k.elements(rows); }
  int64_t floats() const { return k.elements(rows) + v.elements(rows); }
  // The block as rows of (D + Dv) floats for the messages (MPI counts are int).
  int64_t message_rows() const { return k.batch * k.heads * rows; }
  int64_t message_row_floats() const { return k.dim + v.dim; }
};

// A buffer of a block (64-byte aligned).
using KvBuffer = std::unique_ptr<float[], AlignedFree>;
// Its elements are left unset, so that its pages count in the resident memory only once written.
inline KvBuffer unset_buffer(size_t floats) { return aligned_array<float>(floats, false); }

// Copies p's k and v (any strides) into block.
inline void pack_kv(const AttentionParams& p, const KvBlockShape& s, float* block) {
  copy_rows(s.k, s.rows, p.k, p.k_stride, 0, block, bhld_strides(s.k.heads, s.rows, s.k.dim), 0);
  copy_rows(s.v, s.rows, p.v, p.v_stride, 0, block + s.k_floats(),
            bhld_strides(s.v.heads, s.rows, s.v.dim), 0);
}

}  // namespace attn::dist
