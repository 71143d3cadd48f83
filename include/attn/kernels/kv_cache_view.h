// KvCacheView — the read-only picture of a KV cache that the decode kernel reads.
//
// A cache (attn/infer/kv_cache.h) stores, for each of B sequences, the keys and values of its kept
// tokens in fixed-size blocks of `block_tokens` slots. A contiguous cache is the case of one block
// per sequence that holds its whole capacity; a paged cache gives each sequence a table of blocks
// taken from a pool. Inside a block, for KV head h and slot s (0 ≤ s < block_tokens):
//
//   key codes      k_offset       + (h·block_tokens + s)·k_row  values of the storage dtype
//   value codes    v_offset       + (h·block_tokens + s)·v_row
//   key scales     k_scale_offset + (h·block_tokens + s)·(k_row / 32) floats      (q8 only)
//   value scales   v_scale_offset + (h·block_tokens + s)·(v_row / 32) floats      (q8 only)
//
// Offsets are in bytes from the start of the block. Rows are padded with zeros to k_row ≥ D and
// v_row ≥ Dv values (multiples of 32), so the kernel reads whole vectors.
//
// The kept tokens of a sequence are read in logical order: index 0 .. kept − 1, oldest first.
// Without a sliding window, index i is slot i (and position i). With a sliding window of W tokens
// and S sinks, indices 0 .. S − 1 are the sinks in slots 0 .. S − 1, and the window tokens live in
// a ring of W slots after them: index i ≥ S is slot S + (ring_head + i − S) mod W.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace attn {

// Storage type of cached keys and values. Accumulation is always fp32.
enum class KvDtype {
  kF32,   // float
  kF16,   // IEEE half, rounded to nearest even, saturated at ±65504
  kBF16,  // bfloat16, rounded to nearest even
  kQ8,    // int8 codes with one float scale per 32 values along the head dim
};

constexpr int64_t kKvQ8Group = 32;        // values per q8 scale
constexpr int64_t kKvRowMultiple = 32;    // stored rows are padded to a multiple of this
constexpr int64_t kKvBlockMultiple = 16;  // block sizes are multiples of this many tokens

// Bytes of one stored value (codes only, without q8 scales).
constexpr int64_t kv_value_bytes(KvDtype dtype) {
  return dtype == KvDtype::kF32 ? 4 : dtype == KvDtype::kQ8 ? 1 : 2;
}

// Stored row length for a head dim: dim rounded up to a multiple of kKvRowMultiple.
constexpr int64_t kv_padded_dim(int64_t dim) {
  return (dim + kKvRowMultiple - 1) / kKvRowMultiple * kKvRowMultiple;
}

// One sequence of a cache.
struct KvSequenceView {
  const std::byte* const* blocks = nullptr;  // block i holds slots [i·block_tokens, (i+1)·…)
  int64_t kept = 0;                          // tokens stored and visible to decode
  int64_t ring_head = 0;  // sliding window: ring index (0 ≤ · < W) of the oldest window token
};

// Consecutive kept tokens [index, index + count) of one (sequence, head) that sit in consecutive
// slots of one block: row t of the run is at k + t·k_row values, its scales at k_scales + t·…
struct KvRun {
  const std::byte* k;
  const std::byte* v;
  const float* k_scales;  // q8 only
  const float* v_scales;  // q8 only
  int64_t count;
};

struct KvCacheView {
  KvDtype dtype = KvDtype::kF32;
  int64_t batch = 0;       // B sequences
  int64_t kv_heads = 0;    // Hkv
  int64_t head_dim = 0;    // D of the keys
  int64_t v_head_dim = 0;  // Dv of the values
  int64_t k_row = 0;       // kv_padded_dim(D)
  int64_t v_row = 0;       // kv_padded_dim(Dv)
  int64_t block_tokens = 0;
  int64_t k_offset = 0, v_offset = 0, k_scale_offset = 0, v_scale_offset = 0;  // bytes
  int64_t sink_tokens = 0;               // S (sliding window only)
  int64_t window_tokens = 0;             // W; 0 = no sliding window, every token is kept
  const KvSequenceView* seqs = nullptr;  // [batch]

  // Slot of kept token `index` of sequence s.
  int64_t slot_of(const KvSequenceView& s, int64_t index) const {
    if (window_tokens == 0 || index < sink_tokens) return index;
    return sink_tokens + (s.ring_head + index - sink_tokens) % window_tokens;
  }

  // The longest run of kept tokens of (s, head) that starts at `index` and ends by `end`.
  KvRun run(const KvSequenceView& s, int64_t head, int64_t index, int64_t end) const {
    const int64_t slot = slot_of(s, index);
    int64_t count = std::min(end - index, block_tokens - slot % block_tokens);
    if (window_tokens > 0) {
      const int64_t ring_left =
          index < sink_tokens ? sink_tokens - index : sink_tokens + window_tokens - slot;
      count = std::min(count, ring_left);
    }
    const std::byte* block = s.blocks[slot / block_tokens];
    const int64_t row = head * block_tokens + slot % block_tokens;
    const int64_t es = kv_value_bytes(dtype);
    return {block + k_offset + row * k_row * es, block + v_offset + row * v_row * es,
            reinterpret_cast<const float*>(block + k_scale_offset) + row * (k_row / kKvQ8Group),
            reinterpret_cast<const float*>(block + v_scale_offset) + row * (v_row / kKvQ8Group),
            count};
  }
};

}  // namespace attn
