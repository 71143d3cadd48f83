// Shardings: the rows each rank holds, and the helpers that move shards.
#include "attn/dist/sharding.h"

#include <numeric>
#include <vector>

#include "attn/core/error.h"
#include "gtest/gtest.h"
#include "ring_problem.h"

namespace attn::testing {
namespace {

using dist::Sharding;
using dist::ShardLayout;

TEST(Sharding, ZigzagPairsAnEarlyAndALateChunk) {
  const ShardLayout layout{16, 4, Sharding::kZigzag};
  EXPECT_EQ(layout.chunk_len(), 2);
  EXPECT_EQ(layout.chunk_start(0, 0), 0);
  EXPECT_EQ(layout.chunk_start(0, 1), 14);
  EXPECT_EQ(layout.chunk_start(3, 0), 6);
  EXPECT_EQ(layout.chunk_start(3, 1), 8);
}

TEST(Sharding, ContiguousHoldsOneRunOfRows) {
  const ShardLayout layout{12, 3, Sharding::kContiguous};
  EXPECT_EQ(layout.shard_len(), 4);
  EXPECT_EQ(layout.chunk_start(2, 0), 8);
}

TEST(Sharding, LengthNotAMultipleOfTheChunksIsRejected) {
  EXPECT_THROW(dist::validate(ShardLayout{10, 3, Sharding::kContiguous}), Error);
  EXPECT_THROW(dist::validate(ShardLayout{12, 4, Sharding::kZigzag}), Error);
  EXPECT_NO_THROW(dist::validate(ShardLayout{16, 4, Sharding::kZigzag}));
  EXPECT_THROW(dist::parse_sharding("diagonal"), Error);
}

TEST(Sharding, ShardsPutBackRebuildTheWhole) {
  const dist::RowShape shape{2, 3, 5};
  const int64_t len = 24;
  std::vector<float> full(shape.elements(len));
  std::iota(full.begin(), full.end(), 0.0f);
  for (Sharding s : {Sharding::kContiguous, Sharding::kZigzag}) {
    const ShardLayout layout{len, 4, s};
    std::vector<float> rebuilt(full.size(), -1.0f), shard(shape.elements(layout.shard_len()));
    const Strides4 fs = bhld_strides(3, len, 5), ss = bhld_strides(3, layout.shard_len(), 5);
    for (int r = 0; r < 4; ++r) {
      dist::take_shard(layout, r, shape, full.data(), fs, shard.data(), ss);
      dist::put_shard(layout, r, shape, shard.data(), ss, rebuilt.data(), fs);
    }
    EXPECT_EQ(rebuilt, full) << dist::sharding_name(s);
  }
}

TEST(Sharding, ScatterThenGatherRoundTrips) {
  const dist::RowShape shape{1, 2, 3};
  const ShardLayout layout{8 * world_size(), world_size(), Sharding::kZigzag};
  std::vector<float> full(shape.elements(layout.seq_len));
  std::iota(full.begin(), full.end(), 1.0f);
  std::vector<float> shard(shape.elements(layout.shard_len()));
  dist::scatter_shards(MPI_COMM_WORLD, layout, shape, full.data(), shard.data());
  // Each rank's shard holds its own rows of the whole.
  std::vector<float> want(shard.size());
  dist::take_shard(layout, world_rank(), shape, full.data(), bhld_strides(2, layout.seq_len, 3),
                   want.data(), bhld_strides(2, layout.shard_len(), 3));
  EXPECT_EQ(shard, want);
  std::vector<float> back(world_rank() == 0 ? full.size() : 0);
  dist::gather_shards(MPI_COMM_WORLD, layout, shape, shard.data(), back.data());
  if (world_rank() == 0) {
    EXPECT_EQ(back, full);
  }
}

}  // namespace
}  // namespace attn::testing
