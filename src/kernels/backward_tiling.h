// Target-independent tiling of the flash backward: the dK/dV pass's key work items, and the
// fused plan's items and the gradients of each part of a call (packed sequences).
//
// A key work item is one (batch, KV head, key tile). It owns the dK and dV rows of its keys and
// accumulates them over every query head of the group and every query that may see the tile, in
// a fixed order, so the result does not depend on the number of threads. (The dQ pass uses the
// forward's work items, tiling.h.)
#pragma once

#include <cstdint>
#include <vector>

#include "attn/core/attention_params.h"
#include "attn/kernels/attention.h"

namespace attn::kernels {

// Keys per dK/dV work item and query rows visited at a time by it.
struct BackwardTileSizes {
  int64_t key_tile = 64;
  int64_t query_tile = 64;
};

struct KeyWorkItem {
  int64_t batch;
  int64_t kv_head;
  int64_t k_begin;   // first key of the tile
  int64_t k_count;   // keys in the tile (≤ key_tile)
  int64_t q_begin;   // query rows [q_begin, q_end) whose visible key range meets the tile;
  int64_t q_end;     // q_begin == q_end when none does
  int64_t part = 0;  // which of the call's parts (problem_parts, tiling.h) it belongs to
};

// Query rows of batch b whose causal window and key length let them see a key of [k0, k1)
// (masks aside): a contiguous range, because visible ranges never move left as the row grows.
struct RowRange {
  int64_t begin;
  int64_t end;
};
RowRange queries_seeing(const AttentionParams& p, int64_t b, int64_t k0, int64_t k1);

// Every key work item of p: KV head by KV head, the most expensive first within a head.
std::vector<KeyWorkItem> make_key_work_items(const AttentionParams& p, int64_t key_tile);

// The gradients of each part of problem_parts(p) (tiling.h): g itself, or g's pointers moved to
// each packed sequence's first query row (dout, dq) and first key (dk, dv).
std::vector<AttentionGrads> grads_of_parts(const AttentionParams& p, const AttentionGrads& g);

// The part with the most keys (the first of them), for which the fused scratch is sized.
const AttentionParams& most_keys(const std::vector<AttentionParams>& parts);

// A work item of the fused plan: one (batch, KV head) of one part.
struct FusedItem {
  int64_t part;
  int64_t batch;
  int64_t kv_head;
};

// Every fused item: for one part in (batch, KV head) order; for several, the most expensive
// part (Σ rows × visible keys) first.
std::vector<FusedItem> make_fused_items(const std::vector<AttentionParams>& parts);

// Every key work item of every part, each tagged with its part; several parts are ordered as
// the forward's items (tiling.h): (part, KV head) groups most expensive first.
std::vector<KeyWorkItem> make_key_work_items(const std::vector<AttentionParams>& parts,
                                             int64_t key_tile);

}  // namespace attn::kernels
