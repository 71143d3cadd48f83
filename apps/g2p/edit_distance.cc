#include "apps/g2p/edit_distance.h"

#include <algorithm>
#include <numeric>
#include <vector>

namespace attn::apps {

int64_t edit_distance(std::span<const int32_t> a, std::span<const int32_t> b) {
  // row[j] = distance between a[0, i) and b[0, j), one row i at a time.
  std::vector<int64_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), int64_t{0});
  for (size_t i = 1; i <= a.size(); ++i) {
    int64_t diagonal = row[0];  // distance of a[0, i−1) and b[0, j−1)
    row[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      const int64_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({substitute, row[j] + 1, row[j - 1] + 1});
    }
  }
  return row.back();
}

}  // namespace attn::apps
