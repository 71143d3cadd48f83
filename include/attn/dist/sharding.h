// How a sequence is cut among the ranks of a ring, and helpers to shard and gather tensors.
//
// A tensor of the sequence is [B, H, L, dim] (any strides); rank r holds the rows of its shard,
// [B, H, L/P, dim], in the order of its chunks:
//
//   contiguous (P chunks):   rank r holds chunk r                    rows [r·L/P, (r+1)·L/P)
//   zigzag (2P chunks):      rank r holds chunks r and 2P−1−r        (L/2P rows each)
//
// Zigzag balances causal work: each rank holds one early and one late chunk, so every rank has
// the same number of visible (query, key) pairs.
#pragma once

#include <mpi.h>

#include <cstdint>

#include "attn/core/tensor.h"

namespace attn::dist {

enum class Sharding { kContiguous, kZigzag };

// Parses "contiguous" or "zigzag"; throws attn::Error otherwise.
Sharding parse_sharding(const char* name);
const char* sharding_name(Sharding s);

struct ShardLayout {
  int64_t seq_len = 0;  // L, a multiple of ranks · chunks_per_rank()
  int ranks = 1;        // P
  Sharding sharding = Sharding::kContiguous;

  int64_t chunks_per_rank() const { return sharding == Sharding::kZigzag ? 2 : 1; }
  int64_t chunk_len() const { return seq_len / (ranks * chunks_per_rank()); }
  int64_t shard_len() const { return seq_len / ranks; }
  // Global index of the first row of chunk c of rank r's shard (its local rows start at
  // c · chunk_len()).
  int64_t chunk_start(int rank, int64_t c) const {
    const int64_t chunk = c == 0 ? rank : 2 * int64_t{ranks} - 1 - rank;
    return chunk * chunk_len();
  }
};

// Throws attn::Error unless L > 0, P > 0 and L is a multiple of P · chunks_per_rank().
void validate(const ShardLayout& layout);

// The sizes of a [B, H, L, dim] tensor other than its length.
struct RowShape {
  int64_t batch = 1;
  int64_t heads = 1;
  int64_t dim = 1;
  int64_t elements(int64_t rows) const { return batch * heads * rows * dim; }
};

// dst[b, h, dst_row + i, :] = src[b, h, src_row + i, :] for i < rows.
void copy_rows(const RowShape& shape, int64_t rows, const float* src, const Strides4& src_stride,
               int64_t src_row, float* dst, const Strides4& dst_stride, int64_t dst_row);

// dst[b, h, dst_row + i, :] += src[b, h, src_row + i, :] for i < rows.
void add_rows(const RowShape& shape, int64_t rows, const float* src, const Strides4& src_stride,
              int64_t src_row, float* dst, const Strides4& dst_stride, int64_t dst_row);

// x[b, h, i, :] = 0 for i < rows.
void zero_rows(const RowShape& shape, int64_t rows, float* x, const Strides4& stride);

// The rows of rank's shard of full [B, H, L, dim] into shard [B, H, L/P, dim].
void take_shard(const ShardLayout& layout, int rank, const RowShape& shape, const float* full,
                const Strides4& full_stride, float* shard, const Strides4& shard_stride);
// The inverse: rank's shard written back into its rows of full.
void put_shard(const ShardLayout& layout, int rank, const RowShape& shape, const float* shard,
               const Strides4& shard_stride, float* full, const Strides4& full_stride);

// Collective over comm (P = its size): root's full contiguous [B, H, L, dim] is cut into the
// ranks' contiguous shards [B, H, L/P, dim]. full is read on root only.
void scatter_shards(MPI_Comm comm, const ShardLayout& layout, const RowShape& shape,
                    const float* full, float* shard, int root = 0);
// Collective: the ranks' contiguous shards gathered into root's full contiguous tensor (written
// on root only).
void gather_shards(MPI_Comm comm, const ShardLayout& layout, const RowShape& shape,
                   const float* shard, float* full, int root = 0);

}  // namespace attn::dist
