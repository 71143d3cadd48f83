#include "kernels/tiling.h"

#include <algorithm>
#include <utility>

namespace attn::kernels {

std::vector<WorkItem> make_work_items(const AttentionParams& p, int64_t query_tile) {
  std::vector<WorkItem> items;
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t h = 0; h < p.q_heads; ++h) {
      for (int64_t q0 = 0; q0 < p.q_len; q0 += query_tile) {
        const int64_t count = std::min(query_tile, p.q_len - q0);
        // Visible ranges are nondecreasing in the row, so the first row gives the first key and
        // the last row the last one.
        const KeyRange first = visible_keys(p, b, q0);
        const KeyRange last = visible_keys(p, b, q0 + count - 1);
        const int64_t key_end = std::max(first.begin, last.end);
        items.push_back({.batch = b,
                         .head = h,
                         .q_begin = q0,
                         .q_count = count,
                         .key_begin = first.begin,
                         .key_end = key_end});
      }
    }
  }
  // Within each (batch, head), longest first: the short tiles come last and even out the threads'
  // finishing times, while consecutive items share the head's K and V in cache (interleaving the
  // heads cost 20% at L = 4096, D = 128; docs/KERNELS.md).
  std::stable_sort(items.begin(), items.end(), [](const WorkItem& a, const WorkItem& b) {
    if (a.batch != b.batch || a.head != b.head) {
      return a.batch != b.batch ? a.batch < b.batch : a.head < b.head;
    }
    return (a.key_end - a.key_begin) > (b.key_end - b.key_begin);
  });
  return items;
}

std::vector<AttentionParams> problem_parts(const AttentionParams& p) {
  if (!p.is_packed()) return {p};
  std::vector<AttentionParams> parts;
  for (int64_t s = 0; s < p.sequences; ++s) parts.push_back(sequence_params(p, s));
  return parts;
}

std::vector<WorkItem> make_work_items(const std::vector<AttentionParams>& parts,
                                      int64_t query_tile) {
  if (parts.size() == 1) return make_work_items(parts[0], query_tile);
  std::vector<WorkItem> items;
  for (size_t n = 0; n < parts.size(); ++n) {
    for (WorkItem w : make_work_items(parts[n], query_tile)) {
      w.part = static_cast<int64_t>(n);
      items.push_back(w);
    }
  }
  const auto cost = [](const WorkItem& w) { return w.q_count * (w.key_end - w.key_begin); };
  order_by_group_cost(
      items,
      [](const WorkItem& w) {
        return std::pair{w.part, w.head};
      },
      cost);
  return items;
}

int64_t visible_pairs(const AttentionParams& p) {
  int64_t pairs = 0;
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t i = 0; i < p.q_len; ++i) {
      const KeyRange range = visible_keys(p, b, i);
      pairs += range.end - range.begin;
    }
  }
  return pairs;
}

bool key_block_fully_visible(const AttentionParams& p, const WorkItem& item, int64_t k0,
                             int64_t count) {
  const KeyRange first = visible_keys(p, item.batch, item.q_begin);
  const KeyRange last = visible_keys(p, item.batch, item.q_begin + item.q_count - 1);
  return last.begin <= k0 && first.end >= k0 + count;
}

}  // namespace attn::kernels
