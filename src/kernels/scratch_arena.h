// ScratchArena: the bump allocator that every kernel's scratch is carved from.
//
// A kernel states the layout of its scratch once, in a carve function that takes its arrays from
// an arena in order:
//   ForwardScratch CarveForwardScratch(ScratchArena& a, ...) {
//     s.scores = a.take<float>(key_tile * padded); ...
//   }
// Run on a counting arena, the same function measures the bytes the layout needs (ScratchBytes);
// run on an arena over a block of that many bytes, it hands out the arrays. Every take starts on
// a 64-byte boundary (a cache line, and a whole vector on every SIMD target). Target-independent:
// the per-target code (*-inl.h) includes it from outside its namespace.
#pragma once

#include <cstddef>
#include <cstdint>

#include "attn/core/error.h"

namespace attn::kernels {

// Alignment of every block and every take, in bytes.
inline constexpr int64_t kScratchAlign = 64;

class ScratchArena {
 public:
  // A counting arena: takes hand out null pointers and only add up their bytes.
  ScratchArena() = default;
  // An arena over [base, base + capacity); base is kScratchAlign-aligned.
  ScratchArena(std::byte* base, int64_t capacity) : base_(base), capacity_(capacity) {}

  // The next n elements of T, kScratchAlign-aligned; null on a counting arena.
  template <typename T>
  T* take(int64_t n) {
    const int64_t at = used_;
    used_ += RoundUp(n * static_cast<int64_t>(sizeof(T)));
    if (base_ == nullptr) return nullptr;
    ATTN_CHECK(used_ <= capacity_, "ScratchArena: a carve takes ", used_, " bytes of ", capacity_);
    return reinterpret_cast<T*>(base_ + at);
  }

  // Bytes taken so far (a multiple of kScratchAlign).
  int64_t used() const { return used_; }

  static int64_t RoundUp(int64_t bytes) {
    return (bytes + kScratchAlign - 1) / kScratchAlign * kScratchAlign;
  }

 private:
  std::byte* base_ = nullptr;
  int64_t capacity_ = 0;
  int64_t used_ = 0;
};

// Bytes that carve(arena) takes: the carve run on a counting arena.
template <typename Carve>
int64_t ScratchBytes(Carve&& carve) {
  ScratchArena counter;
  carve(counter);
  return counter.used();
}

// An arena over slice `index` of a block of equal slices of `bytes` each (one per thread).
inline ScratchArena SliceArena(std::byte* block, int64_t bytes, int64_t index) {
  return ScratchArena(block + bytes * index, bytes);
}

}  // namespace attn::kernels
