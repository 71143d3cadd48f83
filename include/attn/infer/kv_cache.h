// KvCache — the keys and values of a batch of sequences during generation.
//
// B sequences of different lengths, Hkv heads, head dims D (keys) and Dv (values). Tokens are
// appended in place at each sequence's length; the decode kernel (attn/kernels/decode.h) reads them
// through view(). Options:
//   - layout: contiguous (one region of `capacity` tokens per sequence, allocated up front) or
//     paged (blocks of `block_tokens` tokens taken from a pool as sequences grow);
//   - storage dtype: f32, f16, bf16 or q8 (int8 with one float scale per 32 values along the head
//     dim); values are converted or quantised on append and dequantised by the kernel;
//   - RoPE on the new keys at their true positions, applied on append (so nothing is ever
//     re-rotated); apply_rope does the same to queries;
//   - a sliding window with attention sinks: the first S tokens plus the last W tokens are kept;
//     appending beyond evicts the oldest non-sink token (a ring buffer), so memory stays bounded
//     and generation goes on past the window.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/kernels/kv_cache_view.h"

namespace attn {

enum class KvLayout { kContiguous, kPaged };

struct KvCacheConfig {
  int64_t batch = 1;        // B sequences
  int64_t kv_heads = 1;     // Hkv
  int64_t head_dim = 64;    // D of the keys
  int64_t v_head_dim = 64;  // Dv of the values
  KvDtype dtype = KvDtype::kF32;
  KvLayout layout = KvLayout::kContiguous;
  // Tokens one sequence may keep: required for a contiguous cache (0 there means S + W with a
  // sliding window); for a paged cache 0 means unbounded.
  int64_t capacity = 0;
  int64_t block_tokens = 16;  // paged: tokens per block, a positive multiple of 16
  int64_t max_blocks = 0;     // paged: size limit of the pool in blocks; 0 = unbounded
  bool rope = false;          // rotate the new keys at their positions on append
  float rope_base = 10000.0f;
  int64_t sink_tokens = 0;    // S: with a window, the first S tokens are never evicted
  int64_t window_tokens = 0;  // W > 0: keep only the last W tokens after the sinks
};

class KvCache {
 public:
  // Throws attn::Error for a non-positive size, an odd D with RoPE, a block size that is not a
  // multiple of 16, sinks without a window, or a contiguous cache without a capacity.
  explicit KvCache(const KvCacheConfig& config);
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  // Appends n_new tokens to sequence `seq` at positions length(seq) … length(seq) + n_new − 1.
  //   k: [n_new, Hkv, D], v: [n_new, Hkv, Dv], contiguous; values must be finite.
  // Throws attn::Error for a bad sequence index, a contiguous cache or paged pool that would
  // overflow, or a non-finite value (the cache is unchanged then).
  void append(int64_t seq, int64_t n_new, const float* k, const float* v);

  // n_new tokens for every sequence: k [B, n_new, Hkv, D], v [B, n_new, Hkv, Dv]. Everything is
  // checked before anything is written.
  void append_all(int64_t n_new, const float* k, const float* v);

  // Empties sequence `seq` (a paged cache returns its blocks to the pool).
  void reset(int64_t seq);

  int64_t length(int64_t seq) const;  // tokens appended so far: the position of the next one
  int64_t kept(int64_t seq) const;    // tokens stored and visible to decode (≤ length)
  // Position of kept token `index` (0 ≤ index < kept, oldest first).
  int64_t position(int64_t seq, int64_t index) const;

  // Dequantised key [D] and value [Dv] of kept token `index` of (seq, head), as decode sees them.
  void read(int64_t seq, int64_t index, int64_t head, float* k, float* v) const;

  // What the decode kernel reads; valid until the next append or reset.
  KvCacheView view() const;

  const KvCacheConfig& config() const { return config_; }
  // Bytes of K and V storage one kept token takes over all heads (padded rows and q8 scales).
  int64_t bytes_per_token() const;
  int64_t blocks_in_use() const;    // blocks held by sequences
  int64_t allocated_bytes() const;  // bytes of every block allocated (in use or free)

 private:
  struct Sequence {
    std::vector<std::byte*> blocks;
    int64_t length = 0;
  };

  void check_seq(int64_t seq) const;
  int64_t slots_needed(int64_t length) const;  // slots that `length` appended tokens occupy
  std::byte* take_block();
  int64_t extra_blocks(const Sequence& s, int64_t slots) const;
  int64_t available_blocks() const;
  void check_pool(int64_t more) const;
  void check_append(int64_t seq, int64_t n_new, const float* k, const float* v) const;
  void write_tokens(int64_t seq, int64_t n_new, const float* k, const float* v);
  void store_token(Sequence& s, const float* k, const float* v);
  void sync_views();

  KvCacheConfig config_;
  KvCacheView view_;
  int64_t block_bytes_ = 0;
  std::vector<Sequence> seqs_;
  std::vector<KvSequenceView> seq_views_;
  std::vector<std::unique_ptr<std::byte[], AlignedFree>> storage_;
  std::vector<std::byte*> free_blocks_;
  std::vector<float> rotated_;  // [Hkv, D] scratch for RoPE
};

// Rotary position embedding of one token: x [heads, dim], dim even. Each consecutive pair
// (x[2i], x[2i+1]) of every head is rotated by the angle position · base^(−2i/dim).
void apply_rope(float* x, int64_t heads, int64_t dim, int64_t position, float base = 10000.0f);

}  // namespace attn
