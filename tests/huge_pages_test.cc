// Buffers for streamed data (attn/core/huge_pages.h): zeroed, aligned, and 2 MiB aligned when
// large.
#include "attn/core/huge_pages.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace attn {
namespace {

bool aligned_to(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

bool all_zero(const std::byte* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != std::byte{0}) return false;
  }
  return true;
}

TEST(HugePages, SmallBuffersAreZeroedAnd64ByteAligned) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{63}, size_t{4096}, kHugePageBytes - 1}) {
    auto buffer = streamed_array<std::byte>(n);
    ASSERT_NE(buffer, nullptr);
    EXPECT_TRUE(aligned_to(buffer.get(), 64)) << n;
    EXPECT_TRUE(all_zero(buffer.get(), n)) << n;
  }
}

TEST(HugePages, LargeBuffersAreZeroedAndHugePageAligned) {
  const size_t n = 2 * kHugePageBytes + 100;
  auto buffer = streamed_array<std::byte>(n);
  ASSERT_NE(buffer, nullptr);
  EXPECT_TRUE(aligned_to(buffer.get(), kHugePageBytes));
  EXPECT_TRUE(all_zero(buffer.get(), n));
  buffer[n - 1] = std::byte{7};  // the whole length is writable
  EXPECT_EQ(buffer[n - 1], std::byte{7});
}

TEST(HugePages, TypedArrayHoldsItsElements) {
  const size_t n = kHugePageBytes / sizeof(double) + 3;
  auto x = streamed_array<double>(n);
  EXPECT_TRUE(aligned_to(x.get(), kHugePageBytes));
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<double>(i);
  EXPECT_EQ(x[n - 1], static_cast<double>(n - 1));
  EXPECT_EQ(x[0], 0.0);
}

}  // namespace
}  // namespace attn
