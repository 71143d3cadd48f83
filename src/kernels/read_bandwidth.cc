// Read-bandwidth yardstick (attn/kernels/yardstick.h): a STREAM-like read-only sum, compiled once
// per SIMD target so that the sum runs at memory speed rather than at the latency of one adder.

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "attn/core/huge_pages.h"
#include "attn/core/simd_target.h"
#include "attn/kernels/yardstick.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/read_bandwidth.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace attn {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Sum of x[0, n) with four independent vector accumulators.
double SumDoubles(const double* HWY_RESTRICT x, size_t n) {
  const hn::ScalableTag<double> d;
  const size_t lanes = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    s0 = hn::Add(s0, hn::LoadU(d, x + i));
    s1 = hn::Add(s1, hn::LoadU(d, x + i + lanes));
    s2 = hn::Add(s2, hn::LoadU(d, x + i + 2 * lanes));
    s3 = hn::Add(s3, hn::LoadU(d, x + i + 3 * lanes));
  }
  double sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; i < n; ++i) sum += x[i];
  return sum;
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace attn
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn {

HWY_EXPORT(SumDoubles);

namespace {

using SumFn = double (*)(const double*, size_t);

constexpr size_t kElements = size_t{64} << 20;  // 512 MiB of doubles, far beyond any L3
constexpr int kRepetitions = 6;                 // the first is dropped

// Seconds for `threads` threads to sum their static shares of x[0, n).
double timed_sum(SumFn sum, const double* x, size_t n, int threads, double* total) {
  std::vector<double> partial(static_cast<size_t>(threads));
  const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num());
    const size_t share = (n + partial.size() - 1) / partial.size();
    const size_t begin = std::min(n, t * share);
    partial[t] = sum(x + begin, std::min(n, begin + share) - begin);
  }
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
  for (double p : partial) *total += p;
  return seconds.count();
}

}  // namespace

double read_bandwidth_gbps(int threads) {
  apply_simd_target_from_env();
  threads = std::max(threads, 1);
  // Allocated and first touched like a contiguous KV cache (zeroed by one thread, huge pages where
  // the OS gives them), so that the decode kernel's bandwidth is compared with a read of the same
  // kind of memory.
  auto x = streamed_array<double>(kElements);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (size_t i = 0; i < kElements; ++i) x[i] = 1.0;
  HWY_DYNAMIC_DISPATCH(SumDoubles)(x.get(), 0);  // settles the dispatch target
  const SumFn sum = &HWY_DYNAMIC_DISPATCH(SumDoubles);
  std::vector<double> seconds;
  double total = 0.0;
  for (int r = 0; r < kRepetitions; ++r) {
    seconds.push_back(timed_sum(sum, x.get(), kElements, threads, &total));
  }
  volatile double sink = total;  // keeps the sums alive
  (void)sink;
  std::sort(seconds.begin() + 1, seconds.end());
  const double median = seconds[1 + (seconds.size() - 1) / 2];
  return static_cast<double>(kElements * sizeof(double)) / median * 1e-9;
}

}  // namespace attn
#endif  // HWY_ONCE
