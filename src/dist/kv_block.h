// A rank's K/V block as it travels round the ring. A received block sits in one buffer: K
// [B, Hkv, L/P, D] then V [B, Hkv, L/P, Dv], contiguous; the block a rank starts with is its own
// K and V, sent as they are when they are contiguous [B, Hkv, L/P, *] (else packed once).
#pragma once

#include <cstdint>
#include <memory>

#include "attn/core/attention_params.h"
#include "attn/core/tensor.h"
#include "attn/dist/sharding.h"
#include "dist/mpi_types.h"
#include "dist/ring_messages.h"

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
  Strides4 k_stride() const { return bhld_strides(k.heads, rows, k.dim); }
  Strides4 v_stride() const { return bhld_strides(v.heads, rows, v.dim); }
};

// The K and V of a block wherever they are.
struct KvView {
  const float* k;
  Strides4 k_stride;
  const float* v;
  Strides4 v_stride;
};

// A block in one buffer (K then V, contiguous).
inline KvView buffer_view(const float* block, const KvBlockShape& s) {
  return {block, s.k_stride(), block + s.k_floats(), s.v_stride()};
}

// A buffer of a block (64-byte aligned).
using KvBuffer = std::unique_ptr<float[], AlignedFree>;
// Its elements are left unset, so that its pages count in the resident memory only once written.
inline KvBuffer unset_buffer(size_t floats) { return aligned_array<float>(floats, false); }

// p's own K and V as the first block: p's views when both are contiguous [B, Hkv, L/P, *]
// (`packed` stays empty), else a copy packed into `packed`.
inline KvView own_block(const AttentionParams& p, const KvBlockShape& s, KvBuffer& packed) {
  const auto same = [](const Strides4& a, const Strides4& b) {
    return a.batch == b.batch && a.head == b.head && a.row == b.row && a.col == b.col;
  };
  if (same(p.k_stride, s.k_stride()) && same(p.v_stride, s.v_stride())) {
    return {p.k, p.k_stride, p.v, p.v_stride};
  }
  packed = unset_buffer(static_cast<size_t>(s.floats()));
  copy_rows(s.k, s.rows, p.k, p.k_stride, 0, packed.get(), s.k_stride(), 0);
  copy_rows(s.v, s.rows, p.v, p.v_stride, 0, packed.get() + s.k_floats(), s.v_stride(), 0);
  return buffer_view(packed.get(), s);
}

// The messages of a block: K as rows of D floats, then V as rows of Dv floats (two messages with
// one tag; MPI keeps their order).
class BlockMessages {
 public:
  explicit BlockMessages(const KvBlockShape& s)
      : k_(s.k.dim), v_(s.v.dim), count_(RowType::count(s.k.batch * s.k.heads * s.rows)) {}

  // block must be contiguous (a buffer_view or a packed own block).
  void send(RingMessages& m, const KvView& block, int peer, int tag) const {
    m.send(block.k, count_, k_.type(), peer, tag);
    m.send(block.v, count_, v_.type(), peer, tag);
  }
  void receive(RingMessages& m, float* block, int64_t k_floats, int peer, int tag) const {
    m.receive(block, count_, k_.type(), peer, tag);
    m.receive(block + k_floats, count_, v_.type(), peer, tag);
  }

 private:
  RowType k_, v_;
  int count_;
};

}  // namespace attn::dist
