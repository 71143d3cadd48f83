#include "kernels/scratch_arena.h"

#include <cstdint>

#include "attn/core/error.h"
#include "attn/core/tensor.h"
#include "gtest/gtest.h"

namespace attn::testing {
namespace {

using kernels::ScratchArena;
using kernels::ScratchBytes;
using kernels::SliceArena;

struct TwoArrays {
  float* values;     // [n]
  int32_t* indices;  // [n]
};

TwoArrays CarveTwoArrays(ScratchArena& a, int64_t n) {
  return {.values = a.take<float>(n), .indices = a.take<int32_t>(n)};
}

TEST(ScratchArena, CountingArenaRoundsEveryTakeUpToACacheLine) {
  ScratchArena counter;
  EXPECT_EQ(counter.take<float>(1), nullptr);
  EXPECT_EQ(counter.used(), 64);
  counter.take<double>(8);  // exactly one line
  EXPECT_EQ(counter.used(), 128);
  counter.take<float>(0);
  EXPECT_EQ(counter.used(), 128);
  counter.take<char>(65);
  EXPECT_EQ(counter.used(), 256);
}

TEST(ScratchArena, MeasuredBytesAreWhatTheSameCarveTakes) {
  const auto carve = [](ScratchArena& a) { return CarveTwoArrays(a, 20); };
  const int64_t bytes = ScratchBytes(carve);
  EXPECT_EQ(bytes, 2 * 128);  // 80 bytes each, rounded up to 128
  auto block = aligned_array<std::byte>(static_cast<size_t>(bytes));
  ScratchArena arena(block.get(), bytes);
  const TwoArrays arrays = carve(arena);
  EXPECT_EQ(reinterpret_cast<std::byte*>(arrays.values), block.get());
  EXPECT_EQ(reinterpret_cast<std::byte*>(arrays.indices), block.get() + 128);
  EXPECT_EQ(arena.used(), bytes);
}

TEST(ScratchArena, EveryTakeIsAlignedTo64Bytes) {
  auto block = aligned_array<std::byte>(1024);
  ScratchArena arena(block.get(), 1024);
  for (int64_t n : {1, 3, 17, 5}) {
    const auto at = reinterpret_cast<uintptr_t>(arena.take<float>(n));
    EXPECT_EQ(at % 64, 0u) << n;
  }
}

TEST(ScratchArena, TakingPastTheBlockThrows) {
  auto block = aligned_array<std::byte>(128);
  ScratchArena arena(block.get(), 128);
  arena.take<float>(32);
  EXPECT_THROW(arena.take<float>(1), Error);
}

TEST(ScratchArena, SlicesOfOneBlockDoNotOverlap) {
  const int64_t bytes = ScratchBytes([](ScratchArena& a) { return CarveTwoArrays(a, 16); });
  auto block = aligned_array<std::byte>(static_cast<size_t>(3 * bytes));
  ScratchArena first = SliceArena(block.get(), bytes, 0);
  ScratchArena second = SliceArena(block.get(), bytes, 1);
  const TwoArrays a = CarveTwoArrays(first, 16);
  const TwoArrays b = CarveTwoArrays(second, 16);
  EXPECT_LE(reinterpret_cast<std::byte*>(a.indices + 16), reinterpret_cast<std::byte*>(b.values));
  EXPECT_EQ(reinterpret_cast<std::byte*>(b.values), block.get() + bytes);
}

}  // namespace
}  // namespace attn::testing
