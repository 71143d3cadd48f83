#include "attn/core/simd_target.h"

#include "attn/core/error.h"
#include "gtest/gtest.h"

namespace attn {
namespace {

TEST(SimdTarget, PortableFallbackIsAlwaysAvailable) {
  const std::vector<std::string> targets = supported_simd_targets();
  ASSERT_FALSE(targets.empty());
  EXPECT_EQ(targets.back(), "scalar");
}

TEST(SimdTarget, ForcingATargetMakesItActive) {
  for (const std::string& t : supported_simd_targets()) {
    force_simd_target(t);
    EXPECT_EQ(active_simd_target(), t);
  }
  force_simd_target("");
  EXPECT_EQ(active_simd_target(), supported_simd_targets().front());
}

TEST(SimdTarget, UnknownTargetIsAnError) { EXPECT_THROW(force_simd_target("avx9000"), Error); }

}  // namespace
}  // namespace attn
