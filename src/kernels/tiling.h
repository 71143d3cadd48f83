// Target-independent tiling of the flash kernels: the list of work items (the tile sizes are
// per SIMD target, in tile_gemm-inl.h).
//
// A work item is one (batch, query head, query tile); the threads share them out dynamically,
// head by head and longest first within a head. Each item's output rows are written by exactly
// one thread in a fixed order, so the result does not depend on the number of threads.
#pragma once

#include <cstdint>
#include <vector>

#include "attn/core/attention_params.h"

namespace attn::kernels {

// Rows of queries per tile and keys per block of a flash kernel (per SIMD target: kQueryTile and
// kKeyTile of tile_gemm-inl.h).
struct TileSizes {
  int64_t query_tile;
  int64_t key_tile;
};

struct WorkItem {
  int64_t batch;
  int64_t head;       // query head
  int64_t q_begin;    // first query row of the tile
  int64_t q_count;    // rows in the tile (≤ query_tile)
  int64_t key_begin;  // keys [key_begin, key_end) that some row of the tile may see
  int64_t key_end;
};

// Every work item of p: head by head, the most expensive first within a head.
std::vector<WorkItem> make_work_items(const AttentionParams& p, int64_t query_tile);

// True when every row of the item sees every key of [k0, k0 + count): no element mask needed
// for the causal window or key length.
bool key_block_fully_visible(const AttentionParams& p, const WorkItem& item, int64_t k0,
                             int64_t count);

}  // namespace attn::kernels
