// The KV cache: storage formats, append and read back, layouts, RoPE, sliding window, errors.
#include "attn/infer/kv_cache.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "attn/core/error.h"
#include "gtest/gtest.h"
#include "infer/kv_codec.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::random_floats;

TEST(KvCacheCodec, F16RoundsToNearestEven) {
  EXPECT_EQ(infer::f16_bits(1.0f), 0x3C00);
  EXPECT_EQ(infer::f16_bits(-2.0f), 0xC000);
  EXPECT_EQ(infer::f16_bits(0.0f), 0x0000);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to the even 1.
  EXPECT_EQ(infer::f16_bits(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  // 1 + 3·2^-11 is halfway between 1 + 2^-10 and 1 + 2^-9: ties to the even 1 + 2^-9.
  EXPECT_EQ(infer::f16_bits(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  EXPECT_EQ(infer::f16_bits(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3C01);
  EXPECT_EQ(infer::f16_bits(65504.0f), 0x7BFF);
  EXPECT_EQ(infer::f16_bits(1e9f), 0x7BFF);  // saturates
  EXPECT_EQ(infer::f16_bits(-1e9f), 0xFBFF);
  EXPECT_EQ(infer::f16_bits(std::ldexp(1.0f, -24)), 0x0001);             // smallest subnormal
  EXPECT_EQ(infer::f16_bits(std::ldexp(1.0f, -26)), 0x0000);             // rounds to 0
  EXPECT_EQ(infer::f16_bits(std::ldexp(1.0f, -14) * 0.99999f), 0x0400);  // rounds up to normal
}

TEST(KvCacheCodec, F16RoundTripsEveryFiniteHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7C00) == 0x7C00) continue;  // inf and NaN are never stored
    const float x = infer::f16_value(static_cast<uint16_t>(h));
    const uint16_t back = infer::f16_bits(x);
    EXPECT_TRUE(back == h || (x == 0.0f && (back & 0x7FFF) == 0)) << std::hex << h;
  }
}

TEST(KvCacheCodec, F16ErrorIsWithinHalfAnUlp) {
  for (float x : random_floats(100000, 3, -100.0f, 100.0f)) {
    const float y = infer::f16_value(infer::f16_bits(x));
    ASSERT_LE(std::abs(y - x), std::ldexp(std::abs(x), -11) + std::ldexp(1.0f, -25)) << x;
  }
}

TEST(KvCacheCodec, Bf16RoundsToNearestEven) {
  EXPECT_EQ(infer::bf16_bits(1.0f), 0x3F80);
  EXPECT_EQ(infer::bf16_bits(1.0f + std::ldexp(1.0f, -8)), 0x3F80);      // tie to even
  EXPECT_EQ(infer::bf16_bits(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);  // tie to even
  EXPECT_EQ(infer::bf16_bits(1.0f + std::ldexp(1.0f, -7)), 0x3F81);
  for (float x : random_floats(100000, 4, -100.0f, 100.0f)) {
    const float y = infer::bf16_value(infer::bf16_bits(x));
    ASSERT_LE(std::abs(y - x), std::ldexp(std::abs(x), -8)) << x;
  }
}

TEST(KvCacheCodec, Q8ErrorIsWithinHalfAStepOfEachGroup) {
  const std::vector<float> x = random_floats(70, 5, -3.0f, 3.0f);
  std::vector<int8_t> codes(96, 0);
  std::vector<float> scales(3, -1.0f), back(70);
  infer::encode_row(KvDtype::kQ8, x.data(), 70, reinterpret_cast<std::byte*>(codes.data()),
                    scales.data());
  infer::decode_row(KvDtype::kQ8, reinterpret_cast<const std::byte*>(codes.data()), scales.data(),
                    70, back.data());
  for (int g = 0; g < 3; ++g) {
    float amax = 0.0f;
    for (int d = 32 * g; d < std::min(70, 32 * g + 32); ++d) amax = std::max(amax, std::abs(x[d]));
    EXPECT_FLOAT_EQ(scales[g], amax / 127.0f);
    for (int d = 32 * g; d < std::min(70, 32 * g + 32); ++d) {
      EXPECT_LE(std::abs(back[d] - x[d]), amax / 254.0f * 1.0001f) << d;
    }
  }
  for (int d = 70; d < 96; ++d) EXPECT_EQ(codes[d], 0);  // padding untouched
}

KvCacheConfig small_config(KvDtype dtype, KvLayout layout) {
  KvCacheConfig c;
  c.batch = 3;
  c.kv_heads = 2;
  c.head_dim = 8;
  c.v_head_dim = 6;
  c.dtype = dtype;
  c.layout = layout;
  c.capacity = 100;
  return c;
}

TEST(KvCache, F32RoundTripsAppendedTokensInBothLayouts) {
  for (KvLayout layout : {KvLayout::kContiguous, KvLayout::kPaged}) {
    KvCache cache(small_config(KvDtype::kF32, layout));
    const std::vector<float> k = random_floats(40 * 2 * 8, 1), v = random_floats(40 * 2 * 6, 2);
    cache.append(1, 33, k.data(), v.data());
    cache.append(1, 7, k.data() + 33 * 16, v.data() + 33 * 12);
    EXPECT_EQ(cache.length(1), 40);
    EXPECT_EQ(cache.kept(1), 40);
    EXPECT_EQ(cache.length(0), 0);
    std::vector<float> kr(8), vr(6);
    for (int64_t t = 0; t < 40; ++t) {
      for (int64_t h = 0; h < 2; ++h) {
        cache.read(1, t, h, kr.data(), vr.data());
        EXPECT_EQ(std::memcmp(kr.data(), k.data() + (t * 2 + h) * 8, 32), 0) << t << " " << h;
        EXPECT_EQ(std::memcmp(vr.data(), v.data() + (t * 2 + h) * 6, 24), 0) << t << " " << h;
      }
    }
  }
}

TEST(KvCache, PagedCacheTakesBlocksAsSequencesGrow) {
  KvCacheConfig c = small_config(KvDtype::kF16, KvLayout::kPaged);
  c.capacity = 0;
  c.block_tokens = 32;
  KvCache cache(c);
  EXPECT_EQ(cache.blocks_in_use(), 0);
  const std::vector<float> k = random_floats(70 * 16, 1), v = random_floats(70 * 12, 2);
  cache.append(0, 1, k.data(), v.data());
  EXPECT_EQ(cache.blocks_in_use(), 1);
  cache.append(0, 31, k.data(), v.data());
  EXPECT_EQ(cache.blocks_in_use(), 1);
  cache.append(0, 1, k.data(), v.data());
  EXPECT_EQ(cache.blocks_in_use(), 2);
  cache.append(2, 70, k.data(), v.data());
  EXPECT_EQ(cache.blocks_in_use(), 5);
  const int64_t bytes = cache.allocated_bytes();
  cache.reset(2);
  EXPECT_EQ(cache.blocks_in_use(), 2);
  EXPECT_EQ(cache.length(2), 0);
  cache.append(1, 70, k.data(), v.data());  // reuses the freed blocks
  EXPECT_EQ(cache.allocated_bytes(), bytes);
}

TEST(KvCache, AppendAllAppendsToEverySequence) {
  KvCache cache(small_config(KvDtype::kBF16, KvLayout::kPaged));
  const std::vector<float> k = random_floats(3 * 2 * 16, 1), v = random_floats(3 * 2 * 12, 2);
  cache.append_all(2, k.data(), v.data());
  std::vector<float> kr(8), vr(6);
  for (int64_t b = 0; b < 3; ++b) {
    EXPECT_EQ(cache.length(b), 2);
    cache.read(b, 1, 1, kr.data(), vr.data());
    for (int d = 0; d < 8; ++d) {
      EXPECT_NEAR(kr[d], k[((b * 2 + 1) * 2 + 1) * 8 + d], 1e-2) << b << " " << d;
    }
  }
}

TEST(KvCache, BytesPerTokenCountsPaddedRowsAndScales) {
  KvCacheConfig c = small_config(KvDtype::kF16, KvLayout::kContiguous);
  c.head_dim = 128;
  c.v_head_dim = 128;
  c.kv_heads = 8;
  EXPECT_EQ(KvCache(c).bytes_per_token(), 8 * 256 * 2);
  c.dtype = KvDtype::kQ8;
  EXPECT_EQ(KvCache(c).bytes_per_token(), 8 * (256 + 8 * 4));
  c.dtype = KvDtype::kF32;
  c.head_dim = 40;  // padded to 64
  EXPECT_EQ(KvCache(c).bytes_per_token(), 8 * (64 + 128) * 4);
}

TEST(KvCache, RopeMatchesTheDirectFormula) {
  const int64_t heads = 3, dim = 16;
  for (int64_t position : {0, 1, 7, 1000, 100000}) {
    std::vector<float> x = random_floats(heads * dim, 9), rotated = x;
    apply_rope(rotated.data(), heads, dim, position, 500.0f);
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = 0; i < dim / 2; ++i) {
        const double theta = position * std::pow(500.0, -2.0 * i / dim);
        const double a = x[h * dim + 2 * i], b = x[h * dim + 2 * i + 1];
        EXPECT_NEAR(rotated[h * dim + 2 * i], a * std::cos(theta) - b * std::sin(theta), 1e-6);
        EXPECT_NEAR(rotated[h * dim + 2 * i + 1], a * std::sin(theta) + b * std::cos(theta), 1e-6);
      }
    }
  }
}

TEST(KvCache, RopeRotatesKeysAtTheirTruePositions) {
  KvCacheConfig c = small_config(KvDtype::kF32, KvLayout::kPaged);
  c.rope = true;
  c.sink_tokens = 1;
  c.window_tokens = 16;
  c.capacity = 0;
  KvCache cache(c);
  const int64_t n = 50;
  const std::vector<float> k = random_floats(n * 16, 1), v = random_floats(n * 12, 2);
  cache.append(0, n, k.data(), v.data());
  std::vector<float> kr(8), vr(6);
  for (int64_t i = 0; i < cache.kept(0); ++i) {
    const int64_t pos = cache.position(0, i);
    std::vector<float> want(k.begin() + pos * 16, k.begin() + pos * 16 + 16);
    apply_rope(want.data(), 2, 8, pos);
    cache.read(0, i, 1, kr.data(), vr.data());
    EXPECT_EQ(std::memcmp(kr.data(), want.data() + 8, 32), 0) << i;
    EXPECT_EQ(std::memcmp(vr.data(), v.data() + pos * 12 + 6, 24), 0) << i;  // values unrotated
  }
  EXPECT_EQ(cache.position(0, 0), 0);
  EXPECT_EQ(cache.position(0, 1), n - 16);
}

TEST(KvCache, ContiguousWindowNeedsNoCapacity) {
  KvCacheConfig c = small_config(KvDtype::kQ8, KvLayout::kContiguous);
  c.capacity = 0;
  c.sink_tokens = 4;
  c.window_tokens = 12;
  KvCache cache(c);
  const std::vector<float> k = random_floats(100 * 16, 1), v = random_floats(100 * 12, 2);
  const int64_t bytes = cache.allocated_bytes();
  for (int t = 0; t < 100; ++t) cache.append(2, 1, k.data() + t * 16, v.data() + t * 12);
  EXPECT_EQ(cache.kept(2), 16);
  EXPECT_EQ(cache.allocated_bytes(), bytes);
}

TEST(KvCache, RejectsBadConfigs) {
  const KvCacheConfig good = small_config(KvDtype::kF32, KvLayout::kPaged);
  KvCacheConfig c = good;
  c.kv_heads = 0;
  EXPECT_THROW(KvCache{c}, Error);
  c = good;
  c.block_tokens = 24;
  EXPECT_THROW(KvCache{c}, Error);
  c = good;
  c.rope = true;
  c.head_dim = 7;
  EXPECT_THROW(KvCache{c}, Error);
  c = good;
  c.sink_tokens = 4;  // without a window
  EXPECT_THROW(KvCache{c}, Error);
  c = good;
  c.window_tokens = 200;  // over the capacity of 100
  EXPECT_THROW(KvCache{c}, Error);
  c = small_config(KvDtype::kF32, KvLayout::kContiguous);
  c.capacity = 0;
  EXPECT_THROW(KvCache{c}, Error);
}

TEST(KvCache, RejectsBadAppendsAndLeavesTheCacheUnchanged) {
  KvCacheConfig c = small_config(KvDtype::kF32, KvLayout::kContiguous);
  c.capacity = 10;
  KvCache cache(c);
  std::vector<float> k = random_floats(11 * 16, 1), v = random_floats(11 * 12, 2);
  EXPECT_THROW(cache.append(3, 1, k.data(), v.data()), Error);  // no sequence 3
  EXPECT_THROW(cache.append(-1, 1, k.data(), v.data()), Error);
  EXPECT_THROW(cache.append(0, 11, k.data(), v.data()), Error);  // over the capacity
  EXPECT_THROW(cache.append(0, -1, k.data(), v.data()), Error);
  EXPECT_THROW(cache.append(0, 1, nullptr, v.data()), Error);
  k[5] = NAN;
  EXPECT_THROW(cache.append(0, 1, k.data(), v.data()), Error);
  v[3] = INFINITY;
  EXPECT_THROW(cache.append_all(1, k.data() + 16, v.data()), Error);
  EXPECT_EQ(cache.length(0), 0);
  EXPECT_EQ(cache.length(1), 0);
  std::vector<float> kr(8), vr(6);
  EXPECT_THROW(cache.read(0, 0, 0, kr.data(), vr.data()), Error);  // nothing kept
  cache.append(0, 10, k.data() + 16, v.data() + 12);
  EXPECT_THROW(cache.read(0, 10, 0, kr.data(), vr.data()), Error);
  EXPECT_THROW(cache.read(0, 0, 2, kr.data(), vr.data()), Error);  // no head 2
  EXPECT_THROW(apply_rope(kr.data(), 1, 7, 0), Error);
}

TEST(KvCache, ExhaustedPoolIsAnError) {
  KvCacheConfig c = small_config(KvDtype::kF16, KvLayout::kPaged);
  c.capacity = 0;
  c.max_blocks = 3;
  KvCache cache(c);
  const std::vector<float> k = random_floats(33 * 16, 1), v = random_floats(33 * 12, 2);
  cache.append(0, 20, k.data(), v.data());
  EXPECT_THROW(cache.append(1, 33, k.data(), v.data()), Error);
  EXPECT_EQ(cache.length(1), 0);
  cache.append(1, 12, k.data(), v.data());
  EXPECT_THROW(cache.append_all(1, k.data(), v.data()), Error);  // sequence 2 needs a third
  EXPECT_EQ(cache.length(0), 20);
}

}  // namespace
}  // namespace attn
