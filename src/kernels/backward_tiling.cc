#include "kernels/backward_tiling.h"

#include <algorithm>
#include <utility>

#include "kernels/tiling.h"

namespace attn::kernels {

namespace {

// First row i in [0, Lq) for which pred(i) holds, given that pred is false then true; Lq if none.
template <typename Pred>
int64_t first_row(const AttentionParams& p, Pred pred) {
  int64_t lo = 0, hi = p.q_len;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (pred(mid)) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

}  // namespace

RowRange queries_seeing(const AttentionParams& p, int64_t b, int64_t k0, int64_t k1) {
  k1 = std::min(k1, p.keys_of(b));  // an empty range may begin at keys_of(b): never before k1
  if (k0 >= k1) return {0, 0};
  // Both ends of visible_keys are nondecreasing in the row: the rows whose range ends after k0
  // are a suffix, the rows whose range begins before k1 a prefix.
  const int64_t begin = first_row(p, [&](int64_t i) { return visible_keys(p, b, i).end > k0; });
  const int64_t end = first_row(p, [&](int64_t i) { return visible_keys(p, b, i).begin >= k1; });
  return {begin, std::max(begin, end)};
}

std::vector<KeyWorkItem> make_key_work_items(const AttentionParams& p, int64_t key_tile) {
  std::vector<KeyWorkItem> items;
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t kvh = 0; kvh < p.kv_heads; ++kvh) {
      for (int64_t k0 = 0; k0 < p.kv_len; k0 += key_tile) {
        const int64_t count = std::min(key_tile, p.kv_len - k0);
        const RowRange rows = queries_seeing(p, b, k0, k0 + count);
        items.push_back({.batch = b,
                         .kv_head = kvh,
                         .k_begin = k0,
                         .k_count = count,
                         .q_begin = rows.begin,
                         .q_end = rows.end});
      }
    }
  }
  // As in the forward: within each (batch, KV head), longest first, so the short tiles even out
  // the threads' finishing times while consecutive items share the head's Q and dO in cache.
  std::stable_sort(items.begin(), items.end(), [](const KeyWorkItem& a, const KeyWorkItem& b) {
    if (a.batch != b.batch || a.kv_head != b.kv_head) {
      return a.batch != b.batch ? a.batch < b.batch : a.kv_head < b.kv_head;
    }
    return (a.q_end - a.q_begin) > (b.q_end - b.q_begin);
  });
  return items;
}

std::vector<KeyWorkItem> make_key_work_items(const std::vector<AttentionParams>& parts,
                                             int64_t key_tile) {
  if (parts.size() == 1) return make_key_work_items(parts[0], key_tile);
  std::vector<KeyWorkItem> items;
  for (size_t n = 0; n < parts.size(); ++n) {
    for (KeyWorkItem w : make_key_work_items(parts[n], key_tile)) {
      w.part = static_cast<int64_t>(n);
      items.push_back(w);
    }
  }
  order_by_group_cost(
      items,
      [](const KeyWorkItem& w) {
        return std::pair{w.part, w.kv_head};
      },
      [](const KeyWorkItem& w) { return w.k_count * (w.q_end - w.q_begin); });
  return items;
}

}  // namespace attn::kernels

namespace attn {

AttentionGrads sequence_grads(const AttentionParams& p, const AttentionGrads& g, int64_t s) {
  const int64_t row = p.cu_seqlens_q[s], key = p.cu_seqlens_k[s];
  AttentionGrads part = g;
  if (g.dout) part.dout = g.dout + g.dout_stride.offset(0, 0, row, 0);
  if (g.dout16) part.dout16 = g.dout16 + g.dout_stride.offset(0, 0, row, 0);
  part.dq = g.dq + g.dq_stride.offset(0, 0, row, 0);
  part.dk = g.dk + g.dk_stride.offset(0, 0, key, 0);
  part.dv = g.dv + g.dv_stride.offset(0, 0, key, 0);
  return part;
}

}  // namespace attn

namespace attn::kernels {

std::vector<AttentionGrads> grads_of_parts(const AttentionParams& p, const AttentionGrads& g) {
  if (!p.is_packed()) return {g};
  std::vector<AttentionGrads> parts;
  for (int64_t s = 0; s < p.sequences; ++s) parts.push_back(sequence_grads(p, g, s));
  return parts;
}

const AttentionParams& most_keys(const std::vector<AttentionParams>& parts) {
  return *std::max_element(
      parts.begin(), parts.end(),
      [](const AttentionParams& a, const AttentionParams& b) { return a.kv_len < b.kv_len; });
}

std::vector<FusedItem> make_fused_items(const std::vector<AttentionParams>& parts) {
  std::vector<FusedItem> items;
  std::vector<int64_t> costs;
  for (size_t n = 0; n < parts.size(); ++n) {
    const AttentionParams& part = parts[n];
    for (int64_t b = 0; b < part.batch; ++b) {
      for (int64_t kvh = 0; kvh < part.kv_heads; ++kvh) {
        items.push_back({.part = static_cast<int64_t>(n), .batch = b, .kv_head = kvh});
      }
    }
    costs.push_back(visible_pairs(part));
  }
  if (parts.size() > 1) {
    std::stable_sort(items.begin(), items.end(), [&](const FusedItem& a, const FusedItem& b) {
      return costs[a.part] > costs[b.part];
    });
  }
  return items;
}

}  // namespace attn::kernels
