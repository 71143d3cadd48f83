// Target-independent tiling of the flash kernels: the list of work items (the tile sizes are
// per SIMD target, in tile_gemm-inl.h).
//
// A work item is one (batch, query head, query tile); the threads share them out dynamically,
// head by head and longest first within a head. Each item's output rows are written by exactly
// one thread in a fixed order, so the result does not depend on the number of threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>
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
  int64_t part = 0;  // which of the call's parts (problem_parts) the item belongs to
};

// Sorts items by the total cost of their group, most expensive group first (ties: the lower
// group first), and within a group by their own cost, most expensive first.
template <typename Item, typename GroupOf, typename CostOf>
void order_by_group_cost(std::vector<Item>& items, GroupOf group_of, CostOf cost_of) {
  std::map<decltype(group_of(std::declval<const Item&>())), int64_t> totals;
  for (const Item& w : items) totals[group_of(w)] += cost_of(w);
  std::stable_sort(items.begin(), items.end(), [&](const Item& a, const Item& b) {
    const auto ga = group_of(a), gb = group_of(b);
    if (ga != gb) {
      const int64_t ta = totals.at(ga), tb = totals.at(gb);
      return ta != tb ? ta > tb : ga < gb;
    }
    return cost_of(a) > cost_of(b);
  });
}

// Every work item of p: head by head, the most expensive first within a head.
std::vector<WorkItem> make_work_items(const AttentionParams& p, int64_t query_tile);

// The ordinary problems of one call: p itself, or with packed sequences the params of each
// sequence (sequence_params), in order. Their items run in one parallel loop.
std::vector<AttentionParams> problem_parts(const AttentionParams& p);

// Every work item of every part, each tagged with its part. One part: as make_work_items.
// Several: the (part, head) groups most expensive first (cost: Σ rows × visible keys), then
// longest first within a group, so one long sequence beside many short ones starts first and
// the short ones even out the threads' finishing times.
std::vector<WorkItem> make_work_items(const std::vector<AttentionParams>& parts,
                                      int64_t query_tile);

// Σ over batches and query rows of the keys each row may see (masks aside), for one head: the
// cost of a problem in score elements.
int64_t visible_pairs(const AttentionParams& p);

// True when every row of the item sees every key of [k0, k0 + count): no element mask needed
// for the causal window or key length.
bool key_block_fully_visible(const AttentionParams& p, const WorkItem& item, int64_t k0,
                             int64_t count);

}  // namespace attn::kernels
