// The in-process yardsticks: FMA-loop peaks and peak resident memory.
#include "attn/kernels/yardstick.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "attn/core/peak_rss.h"
#include "attn/core/simd_target.h"
#include "test_util.h"

namespace attn {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

TEST(YardstickTest, FmaPeakIsPositiveAndFinite) {
  if (testing::small_test_scale()) GTEST_SKIP() << "too slow under the sanitizers";
  const double gflops = fma_peak_gflops(1);
  EXPECT_GT(gflops, 0.1);
  EXPECT_TRUE(std::isfinite(gflops));
}

// Which targets measure a 256-bit peak; not how fast (a timed comparison with the full-vector peak
// failed under load).
TEST(YardstickTest, Fma256BitPeakIsMeasuredOnTheTargetsWith256BitVectors) {
  if (testing::small_test_scale()) GTEST_SKIP() << "too slow under the sanitizers";
  for (const std::string& target : supported_simd_targets()) {
    force_simd_target(target);
    const double narrow = fma_peak_avx2_gflops(1);
    if (target.rfind("avx", 0) == 0) {  // avx2, avx3, avx3_dl
      EXPECT_GT(narrow, 0.1) << target;
      EXPECT_TRUE(std::isfinite(narrow)) << target;
    } else {
      EXPECT_EQ(narrow, 0.0) << target;
    }
  }
  force_simd_target("");
}

TEST(YardstickTest, PeakRssCountsTouchedMemory) {
  ASSERT_GT(peak_rss_bytes(), 0u);
  std::vector<char> block(64 * kMiB);
  std::memset(block.data(), 1, block.size());
  EXPECT_GE(peak_rss_bytes(), 64 * kMiB);
}

TEST(YardstickTest, ResetPeakRssForgetsFreedMemory) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "the sanitizer keeps freed memory in quarantine";
#endif
  if (!std::ofstream("/proc/self/clear_refs")) GTEST_SKIP() << "clear_refs is not writable";
  {
    std::vector<char> block(128 * kMiB);
    std::memset(block.data(), 1, block.size());
  }
  ASSERT_GE(peak_rss_bytes(), 128 * kMiB);
  reset_peak_rss();
  EXPECT_LT(peak_rss_bytes(), 128 * kMiB);
}

}  // namespace
}  // namespace attn
