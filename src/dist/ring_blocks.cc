// The blocks of ring attention (ring_blocks.h).
#include "dist/ring_blocks.h"

#include <algorithm>
#include <bit>
#include <string>
#include <vector>

#include "attn/core/error.h"

namespace attn::dist {

namespace {

// The checks of one rank's params on their own.
void validate_local(const AttentionParams& p, const ShardLayout& layout) {
  ATTN_CHECK(p.q && p.k && p.v && p.out, "ring attention: q, k, v and out must be set");
  ATTN_CHECK(p.q_len == p.kv_len, "ring attention: q_len ", p.q_len, " != kv_len ", p.kv_len,
             " (each rank holds the same rows of Q, K and V)");
  ATTN_CHECK(!p.bool_mask && !p.additive_mask,
             "ring attention: bool and additive masks are not supported");
  ATTN_CHECK(p.query_start == 0 && p.key_start == 0,
             "ring attention: query_start and key_start are set by the ring; pass 0");
  validate(layout);
  if (!p.key_lengths) return;
  for (int64_t b = 0; b < p.batch; ++b) {
    ATTN_CHECK(p.key_lengths[b] >= 0 && p.key_lengths[b] <= layout.seq_len,
               "ring attention: key_lengths[", b, "] = ", p.key_lengths[b], " outside [0, ",
               layout.seq_len, "]");
  }
  const bool positional = p.causal || p.has_window();
  ATTN_CHECK(!positional || p.causal_align == CausalAlign::kTopLeft,
             "ring attention: key_lengths with a causal mask or window need "
             "CausalAlign::kTopLeft");
}

// The sizes and options every rank must share, as integers.
std::vector<int64_t> signature(const AttentionParams& p) {
  const auto bits = [](float x) { return static_cast<int64_t>(std::bit_cast<uint32_t>(x)); };
  return {p.batch,
          p.q_heads,
          p.kv_heads,
          p.q_len,
          p.head_dim,
          p.v_head_dim,
          p.scale.has_value() ? bits(*p.scale) : -1,
          bits(p.softcap),
          p.causal,
          static_cast<int64_t>(p.causal_align),
          p.window_left,
          p.window_right,
          p.alibi_slopes != nullptr,
          p.key_lengths != nullptr,
          p.lse != nullptr,
          bits(p.dropout_p),
          static_cast<int64_t>(p.dropout_seed),
          static_cast<int64_t>(p.dropout_offset)};
}

}  // namespace

void validate_ring(const AttentionParams& p, const ShardLayout& layout, MPI_Comm comm) {
  // Every rank learns whether one rank's input is bad, so that all of them throw together.
  std::string error;
  try {
    validate_local(p, layout);
  } catch (const Error& e) {
    error = e.what();
  }
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  int first_bad = error.empty() ? layout.ranks : rank;
  MPI_Allreduce(MPI_IN_PLACE, &first_bad, 1, MPI_INT, MPI_MIN, comm);
  if (!error.empty()) throw Error(error);
  ATTN_CHECK(first_bad == layout.ranks, "ring attention: rank ", first_bad, " rejected its input");
  std::vector<int64_t> low = signature(p), high = low;
  MPI_Allreduce(MPI_IN_PLACE, low.data(), static_cast<int>(low.size()), MPI_INT64_T, MPI_MIN, comm);
  MPI_Allreduce(MPI_IN_PLACE, high.data(), static_cast<int>(high.size()), MPI_INT64_T, MPI_MAX,
                comm);
  for (size_t i = 0; i < low.size(); ++i) {
    ATTN_CHECK(low[i] == high[i], "ring attention: the ranks disagree on the sizes or options (",
               "field ", i, " of the signature ranges over [", low[i], ", ", high[i], "])");
  }
}

BlockCall::BlockCall(const AttentionParams& p, const ShardLayout& layout, int rank, int source,
                     int64_t q_chunk, int64_t k_chunk)
    : params_(p), k_chunk_(k_chunk), chunk_(layout.chunk_len()) {
  AttentionParams& b = params_;
  b.q = p.q + p.q_stride.offset(0, 0, q_chunk * chunk_, 0);
  b.q_len = b.kv_len = chunk_;
  b.k = b.v = nullptr;
  b.out = nullptr;
  b.lse = nullptr;
  // Lq = Lk over the whole sequence: both alignments agree unless key lengths are set, and then
  // validate_ring asked for kTopLeft.
  b.causal_align = CausalAlign::kTopLeft;
  b.query_start = layout.chunk_start(rank, q_chunk);
  b.key_start = layout.chunk_start(source, k_chunk);
  if (p.key_lengths) {
    for (int64_t i = 0; i < p.batch; ++i) {
      key_lengths_.push_back(std::clamp<int64_t>(p.key_lengths[i] - b.key_start, 0, chunk_));
    }
    b.key_lengths = key_lengths_.data();
  }
}

bool BlockCall::visible() const {
  for (int64_t b = 0; b < params_.batch; ++b) {
    for (int64_t i = 0; i < params_.q_len; ++i) {
      const KeyRange r = visible_keys(params_, b, i);
      if (r.begin < r.end) return true;
    }
  }
  return false;
}

void BlockCall::point_kv(const float* k, const Strides4& k_stride, const float* v,
                         const Strides4& v_stride) {
  params_.k = k + k_stride.offset(0, 0, k_chunk_ * chunk_, 0);
  params_.k_stride = k_stride;
  params_.v = v + v_stride.offset(0, 0, k_chunk_ * chunk_, 0);
  params_.v_stride = v_stride;
}

std::vector<ChunkPair> visible_pairs(const AttentionParams& p, const ShardLayout& layout, int rank,
                                     int64_t step) {
  const int source = block_source(rank, step, layout.ranks);
  std::vector<ChunkPair> pairs;
  for (int64_t qc = 0; qc < layout.chunks_per_rank(); ++qc) {
    for (int64_t kc = 0; kc < layout.chunks_per_rank(); ++kc) {
      if (BlockCall(p, layout, rank, source, qc, kc).visible()) pairs.push_back({qc, kc});
    }
  }
  return pairs;
}

int64_t ring_steps(const AttentionParams& p, const ShardLayout& layout) {
  int64_t steps = 1;
  for (int64_t t = 1; t < layout.ranks; ++t) {
    for (int r = 0; r < layout.ranks; ++r) {
      if (!visible_pairs(p, layout, r, t).empty()) steps = t + 1;
    }
  }
  return steps;
}

}  // namespace attn::dist
