// Sequence shardings and the helpers that move shards (attn/dist/sharding.h).
#include "attn/dist/sharding.h"

#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "attn/core/error.h"
#include "dist/mpi_types.h"

namespace attn::dist {

Sharding parse_sharding(const char* name) {
  const std::string s = name;
  if (s == "contiguous") return Sharding::kContiguous;
  if (s == "zigzag") return Sharding::kZigzag;
  detail::throw_error("sharding: '", s, "' is neither contiguous nor zigzag");
}

const char* sharding_name(Sharding s) { return s == Sharding::kZigzag ? "zigzag" : "contiguous"; }

void validate(const ShardLayout& layout) {
  ATTN_CHECK(layout.ranks > 0, "sharding: ranks = ", layout.ranks, " must be positive");
  const int64_t chunks = layout.ranks * layout.chunks_per_rank();
  ATTN_CHECK(layout.seq_len > 0 && layout.seq_len % chunks == 0, "sharding: sequence length ",
             layout.seq_len, " is not a positive multiple of the ", chunks, " chunks of ",
             sharding_name(layout.sharding), " sharding over ", layout.ranks, " ranks");
}

void copy_rows(const RowShape& shape, int64_t rows, const float* src, const Strides4& src_stride,
               int64_t src_row, float* dst, const Strides4& dst_stride, int64_t dst_row) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < shape.batch; ++b) {
    for (int64_t h = 0; h < shape.heads; ++h) {
      for (int64_t i = 0; i < rows; ++i) {
        const float* s = src + src_stride.offset(b, h, src_row + i, 0);
        float* d = dst + dst_stride.offset(b, h, dst_row + i, 0);
        if (src_stride.col == 1 && dst_stride.col == 1) {
          std::memcpy(d, s, sizeof(float) * static_cast<size_t>(shape.dim));
          continue;
        }
        for (int64_t c = 0; c < shape.dim; ++c) d[c * dst_stride.col] = s[c * src_stride.col];
      }
    }
  }
}

void add_rows(const RowShape& shape, int64_t rows, const float* src, const Strides4& src_stride,
              int64_t src_row, float* dst, const Strides4& dst_stride, int64_t dst_row) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < shape.batch; ++b) {
    for (int64_t h = 0; h < shape.heads; ++h) {
      for (int64_t i = 0; i < rows; ++i) {
        const float* s = src + src_stride.offset(b, h, src_row + i, 0);
        float* d = dst + dst_stride.offset(b, h, dst_row + i, 0);
        for (int64_t c = 0; c < shape.dim; ++c) d[c * dst_stride.col] += s[c * src_stride.col];
      }
    }
  }
}

void zero_rows(const RowShape& shape, int64_t rows, float* x, const Strides4& stride) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < shape.batch; ++b) {
    for (int64_t h = 0; h < shape.heads; ++h) {
      for (int64_t i = 0; i < rows; ++i) {
        float* row = x + stride.offset(b, h, i, 0);
        for (int64_t c = 0; c < shape.dim; ++c) row[c * stride.col] = 0.0f;
      }
    }
  }
}

void take_shard(const ShardLayout& layout, int rank, const RowShape& shape, const float* full,
                const Strides4& full_stride, float* shard, const Strides4& shard_stride) {
  const int64_t n = layout.chunk_len();
  for (int64_t c = 0; c < layout.chunks_per_rank(); ++c) {
    copy_rows(shape, n, full, full_stride, layout.chunk_start(rank, c), shard, shard_stride, c * n);
  }
}

void put_shard(const ShardLayout& layout, int rank, const RowShape& shape, const float* shard,
               const Strides4& shard_stride, float* full, const Strides4& full_stride) {
  const int64_t n = layout.chunk_len();
  for (int64_t c = 0; c < layout.chunks_per_rank(); ++c) {
    copy_rows(shape, n, shard, shard_stride, c * n, full, full_stride, layout.chunk_start(rank, c));
  }
}

void scatter_shards(MPI_Comm comm, const ShardLayout& layout, const RowShape& shape,
                    const float* full, float* shard, int root) {
  validate(layout);
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const int64_t rows = layout.shard_len();
  std::vector<float> packed;
  if (rank == root) {
    packed.resize(static_cast<size_t>(shape.elements(rows) * layout.ranks));
    const Strides4 full_stride = bhld_strides(shape.heads, layout.seq_len, shape.dim);
    const Strides4 shard_stride = bhld_strides(shape.heads, rows, shape.dim);
    for (int r = 0; r < layout.ranks; ++r) {
      take_shard(layout, r, shape, full, full_stride, packed.data() + shape.elements(rows) * r,
                 shard_stride);
    }
  }
  const RowType row(shape.dim);
  MPI_Scatter(packed.data(), row.count(shape.batch * shape.heads * rows), row.type(), shard,
              row.count(shape.batch * shape.heads * rows), row.type(), root, comm);
}

void gather_shards(MPI_Comm comm, const ShardLayout& layout, const RowShape& shape,
                   const float* shard, float* full, int root) {
  validate(layout);
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const int64_t rows = layout.shard_len();
  std::vector<float> packed;
  if (rank == root) packed.resize(static_cast<size_t>(shape.elements(rows) * layout.ranks));
  const RowType row(shape.dim);
  MPI_Gather(shard, row.count(shape.batch * shape.heads * rows), row.type(), packed.data(),
             row.count(shape.batch * shape.heads * rows), row.type(), root, comm);
  if (rank != root) return;
  const Strides4 full_stride = bhld_strides(shape.heads, layout.seq_len, shape.dim);
  const Strides4 shard_stride = bhld_strides(shape.heads, rows, shape.dim);
  for (int r = 0; r < layout.ranks; ++r) {
    put_shard(layout, r, shape, packed.data() + shape.elements(rows) * r, shard_stride, full,
              full_stride);
  }
}

}  // namespace attn::dist
