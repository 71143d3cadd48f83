#include "attn/infer/kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "attn/core/error.h"
#include "attn/core/huge_pages.h"
#include "infer/kv_codec.h"

namespace attn {

namespace {

constexpr int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

void validate_config(const KvCacheConfig& c) {
  ATTN_CHECK(c.batch > 0 && c.kv_heads > 0 && c.head_dim > 0 && c.v_head_dim > 0,
             "KvCache: batch, kv_heads, head_dim and v_head_dim must be > 0, got B=", c.batch,
             " Hkv=", c.kv_heads, " D=", c.head_dim, " Dv=", c.v_head_dim);
  ATTN_CHECK(!c.rope || c.head_dim % 2 == 0, "KvCache: RoPE needs an even head_dim, got ",
             c.head_dim);
  ATTN_CHECK(!c.rope || (std::isfinite(c.rope_base) && c.rope_base > 0.0f),
             "KvCache: rope_base must be finite and > 0, got ", c.rope_base);
  ATTN_CHECK(c.sink_tokens >= 0 && c.window_tokens >= 0,
             "KvCache: sink_tokens and window_tokens must be ≥ 0, got ", c.sink_tokens, " and ",
             c.window_tokens);
  ATTN_CHECK(c.sink_tokens == 0 || c.window_tokens > 0, "KvCache: sink_tokens=", c.sink_tokens,
             " needs a sliding window (window_tokens > 0)");
  ATTN_CHECK(c.capacity >= 0 && c.max_blocks >= 0,
             "KvCache: capacity and max_blocks must be ≥ 0, got ", c.capacity, " and ",
             c.max_blocks);
  const int64_t ring = c.sink_tokens + c.window_tokens;
  ATTN_CHECK(c.window_tokens == 0 || c.capacity == 0 || c.capacity >= ring, "KvCache: capacity ",
             c.capacity, " is below sink_tokens + window_tokens = ", ring);
  if (c.layout == KvLayout::kPaged) {
    ATTN_CHECK(c.block_tokens > 0 && c.block_tokens % kKvBlockMultiple == 0,
               "KvCache: block_tokens must be a positive multiple of ", kKvBlockMultiple, ", got ",
               c.block_tokens);
  } else {
    ATTN_CHECK(c.capacity > 0 || c.window_tokens > 0,
               "KvCache: a contiguous cache needs a capacity > 0");
  }
}

}  // namespace

KvCache::KvCache(const KvCacheConfig& config) : config_(config) {
  validate_config(config_);
  KvCacheConfig& c = config_;
  if (c.window_tokens > 0 && c.capacity == 0 && c.layout == KvLayout::kContiguous) {
    c.capacity = c.sink_tokens + c.window_tokens;
  }
  if (c.layout == KvLayout::kContiguous) c.block_tokens = round_up(c.capacity, kKvBlockMultiple);
  KvCacheView& v = view_;
  v.dtype = c.dtype;
  v.batch = c.batch;
  v.kv_heads = c.kv_heads;
  v.head_dim = c.head_dim;
  v.v_head_dim = c.v_head_dim;
  v.k_row = kv_padded_dim(c.head_dim);
  v.v_row = kv_padded_dim(c.v_head_dim);
  v.block_tokens = c.block_tokens;
  v.sink_tokens = c.window_tokens > 0 ? c.sink_tokens : 0;
  v.window_tokens = c.window_tokens;
  const int64_t rows = c.kv_heads * c.block_tokens;
  const bool q8 = c.dtype == KvDtype::kQ8;
  v.k_offset = 0;
  v.v_offset = rows * v.k_row * kv_value_bytes(c.dtype);
  v.k_scale_offset = v.v_offset + rows * v.v_row * kv_value_bytes(c.dtype);
  v.v_scale_offset = v.k_scale_offset + (q8 ? rows * (v.k_row / kKvQ8Group) * 4 : 0);
  block_bytes_ = round_up(v.v_scale_offset + (q8 ? rows * (v.v_row / kKvQ8Group) * 4 : 0), 64);
  seqs_.resize(static_cast<size_t>(c.batch));
  if (c.layout == KvLayout::kContiguous) {
    for (Sequence& s : seqs_) s.blocks.push_back(take_block());
  }
  rotated_.resize(static_cast<size_t>(c.kv_heads * c.head_dim));
  sync_views();
}

void KvCache::check_seq(int64_t seq) const {
  ATTN_CHECK(seq >= 0 && seq < config_.batch, "KvCache: sequence index ", seq,
             " is out of range [0, ", config_.batch, ")");
}

int64_t KvCache::slots_needed(int64_t length) const {
  const int64_t ring = config_.sink_tokens + config_.window_tokens;
  return config_.window_tokens > 0 ? std::min(length, ring) : length;
}

std::byte* KvCache::take_block() {
  if (!free_blocks_.empty()) {
    std::byte* block = free_blocks_.back();
    free_blocks_.pop_back();
    return block;
  }
  // Decode streams through every block once per step: a contiguous cache's one large block gets
  // huge pages (a paged cache's small blocks stay ordinary 64-byte aligned buffers).
  storage_.push_back(streamed_array<std::byte>(static_cast<size_t>(block_bytes_)));
  return storage_.back().get();
}

// Blocks that s lacks for `slots` slots.
int64_t KvCache::extra_blocks(const Sequence& s, int64_t slots) const {
  const int64_t needed = (slots + config_.block_tokens - 1) / config_.block_tokens;
  return std::max<int64_t>(0, needed - static_cast<int64_t>(s.blocks.size()));
}

// Blocks the pool can still hand out.
int64_t KvCache::available_blocks() const {
  const int64_t free = static_cast<int64_t>(free_blocks_.size());
  if (config_.max_blocks == 0) return INT64_MAX;
  return free + config_.max_blocks - static_cast<int64_t>(storage_.size());
}

void KvCache::check_pool(int64_t more) const {
  ATTN_CHECK(more <= available_blocks(),
             "KvCache: the block pool is exhausted (max_blocks=", config_.max_blocks, ", ", more,
             " more blocks needed, ", available_blocks(), " left)");
}

// Writes one token (k [Hkv, D], v [Hkv, Dv]) at position s.length.
void KvCache::store_token(Sequence& s, const float* k, const float* v) {
  const KvCacheConfig& c = config_;
  const int64_t p = s.length;
  const int64_t slot = (c.window_tokens > 0 && p >= c.sink_tokens)
                           ? c.sink_tokens + (p - c.sink_tokens) % c.window_tokens
                           : p;
  if (c.rope) {
    std::memcpy(rotated_.data(), k, rotated_.size() * sizeof(float));
    apply_rope(rotated_.data(), c.kv_heads, c.head_dim, p, c.rope_base);
    k = rotated_.data();
  }
  std::byte* block = s.blocks[static_cast<size_t>(slot / c.block_tokens)];
  const int64_t es = kv_value_bytes(c.dtype);
  for (int64_t h = 0; h < c.kv_heads; ++h) {
    const int64_t row = h * c.block_tokens + slot % c.block_tokens;
    float* k_scales =
        reinterpret_cast<float*>(block + view_.k_scale_offset) + row * (view_.k_row / kKvQ8Group);
    float* v_scales =
        reinterpret_cast<float*>(block + view_.v_scale_offset) + row * (view_.v_row / kKvQ8Group);
    infer::encode_row(c.dtype, k + h * c.head_dim, c.head_dim,
                      block + view_.k_offset + row * view_.k_row * es, k_scales);
    infer::encode_row(c.dtype, v + h * c.v_head_dim, c.v_head_dim,
                      block + view_.v_offset + row * view_.v_row * es, v_scales);
  }
  ++s.length;
}

// Throws unless n_new tokens k [n_new, Hkv, D], v [n_new, Hkv, Dv] may be appended to `seq`
// (the pool is checked by the caller).
void KvCache::check_append(int64_t seq, int64_t n_new, const float* k, const float* v) const {
  check_seq(seq);
  ATTN_CHECK(n_new >= 0, "KvCache::append: n_new must be ≥ 0, got ", n_new);
  if (n_new == 0) return;
  ATTN_CHECK(k != nullptr && v != nullptr, "KvCache::append: k or v is null");
  const KvCacheConfig& c = config_;
  const int64_t nk = n_new * c.kv_heads * c.head_dim, nv = n_new * c.kv_heads * c.v_head_dim;
  for (int64_t i = 0; i < nk; ++i) {
    ATTN_CHECK(std::isfinite(k[i]), "KvCache::append: k[", i, "] = ", k[i], " is not finite");
  }
  for (int64_t i = 0; i < nv; ++i) {
    ATTN_CHECK(std::isfinite(v[i]), "KvCache::append: v[", i, "] = ", v[i], " is not finite");
  }
  const int64_t slots = slots_needed(length(seq) + n_new);
  ATTN_CHECK(c.capacity == 0 || slots <= c.capacity, "KvCache::append: sequence ", seq,
             " would hold ", slots, " tokens, over its capacity of ", c.capacity);
}

// Appends checked tokens (see check_append) whose blocks the pool can provide.
void KvCache::write_tokens(int64_t seq, int64_t n_new, const float* k, const float* v) {
  const KvCacheConfig& c = config_;
  Sequence& s = seqs_[static_cast<size_t>(seq)];
  const int64_t more = extra_blocks(s, slots_needed(s.length + n_new));
  for (int64_t i = 0; i < more; ++i) s.blocks.push_back(take_block());
  for (int64_t t = 0; t < n_new; ++t) {
    store_token(s, k + t * c.kv_heads * c.head_dim, v + t * c.kv_heads * c.v_head_dim);
  }
}

void KvCache::append(int64_t seq, int64_t n_new, const float* k, const float* v) {
  check_append(seq, n_new, k, v);
  const Sequence& s = seqs_[static_cast<size_t>(seq)];
  check_pool(extra_blocks(s, slots_needed(s.length + n_new)));
  write_tokens(seq, n_new, k, v);
  sync_views();
}

void KvCache::append_all(int64_t n_new, const float* k, const float* v) {
  const KvCacheConfig& c = config_;
  const int64_t k_seq = n_new * c.kv_heads * c.head_dim, v_seq = n_new * c.kv_heads * c.v_head_dim;
  int64_t more = 0;
  for (int64_t b = 0; b < c.batch; ++b) {
    check_append(b, n_new, k + b * k_seq, v + b * v_seq);
    const Sequence& s = seqs_[static_cast<size_t>(b)];
    more += extra_blocks(s, slots_needed(s.length + n_new));
  }
  check_pool(more);
  for (int64_t b = 0; b < c.batch; ++b) write_tokens(b, n_new, k + b * k_seq, v + b * v_seq);
  sync_views();
}

void KvCache::reset(int64_t seq) {
  check_seq(seq);
  Sequence& s = seqs_[static_cast<size_t>(seq)];
  s.length = 0;
  if (config_.layout == KvLayout::kPaged) {
    free_blocks_.insert(free_blocks_.end(), s.blocks.begin(), s.blocks.end());
    s.blocks.clear();
  }
  sync_views();
}

int64_t KvCache::length(int64_t seq) const {
  check_seq(seq);
  return seqs_[static_cast<size_t>(seq)].length;
}

int64_t KvCache::kept(int64_t seq) const { return slots_needed(length(seq)); }

int64_t KvCache::position(int64_t seq, int64_t index) const {
  const int64_t n = kept(seq);
  ATTN_CHECK(index >= 0 && index < n, "KvCache: token index ", index, " is out of range [0, ", n,
             ") of sequence ", seq);
  return index < view_.sink_tokens ? index : length(seq) - n + index;
}

void KvCache::read(int64_t seq, int64_t index, int64_t head, float* k, float* v) const {
  position(seq, index);  // checks seq and index
  ATTN_CHECK(head >= 0 && head < config_.kv_heads, "KvCache::read: head ", head,
             " is out of range [0, ", config_.kv_heads, ")");
  const KvRun run = view_.run(seq_views_[static_cast<size_t>(seq)], head, index, index + 1);
  infer::decode_row(config_.dtype, run.k, run.k_scales, config_.head_dim, k);
  infer::decode_row(config_.dtype, run.v, run.v_scales, config_.v_head_dim, v);
}

KvCacheView KvCache::view() const { return view_; }

int64_t KvCache::bytes_per_token() const {
  const int64_t es = kv_value_bytes(config_.dtype);
  const int64_t scales =
      config_.dtype == KvDtype::kQ8 ? (view_.k_row + view_.v_row) / kKvQ8Group * 4 : 0;
  return config_.kv_heads * ((view_.k_row + view_.v_row) * es + scales);
}

int64_t KvCache::blocks_in_use() const {
  int64_t n = 0;
  for (const Sequence& s : seqs_) n += static_cast<int64_t>(s.blocks.size());
  return n;
}

int64_t KvCache::allocated_bytes() const {
  return static_cast<int64_t>(storage_.size()) * block_bytes_;
}

void KvCache::sync_views() {
  seq_views_.resize(seqs_.size());
  const int64_t ring = config_.sink_tokens + config_.window_tokens;
  for (size_t b = 0; b < seqs_.size(); ++b) {
    const Sequence& s = seqs_[b];
    KvSequenceView& sv = seq_views_[b];
    sv.blocks = s.blocks.data();
    sv.kept = slots_needed(s.length);
    sv.ring_head = (config_.window_tokens > 0 && s.length > ring)
                       ? (s.length - config_.sink_tokens) % config_.window_tokens
                       : 0;
  }
  view_.seqs = seq_views_.data();
}

}  // namespace attn
