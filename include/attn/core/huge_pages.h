// Large buffers that a kernel streams through once per call (a KV cache, the read-bandwidth
// yardstick's array), backed by 2 MiB pages where the OS allows it.
//
// A buffer of hundreds of MiB read at memory speed crosses thousands of 4 KiB pages per
// millisecond, each a TLB miss and a page walk; on 2 MiB pages a read-sum over 512 MiB ran
// 10–15% faster here (docs/KERNELS.md, decode variant 7). Linux backs a region with
// transparent huge pages when it is 2 MiB aligned and marked with madvise(MADV_HUGEPAGE) (the
// default THP mode "madvise" does nothing otherwise). Elsewhere, or when THP is off, the buffer
// is an ordinary one.
#pragma once

#include <cstddef>
#include <memory>

#include "attn/core/tensor.h"

namespace attn {

// Buffers of at least this many bytes are 2 MiB aligned and marked for huge pages.
constexpr size_t kHugePageBytes = size_t{2} << 20;

// A zero-initialised buffer of `bytes` bytes (64-byte aligned; when bytes ≥ kHugePageBytes, 2 MiB
// aligned and its whole 2 MiB pages marked for huge pages), freed with AlignedFree. Throws
// std::bad_alloc.
void* allocate_streamed(size_t bytes);

// The typed form: n zero-initialised elements of T.
template <typename T>
std::unique_ptr<T[], AlignedFree> streamed_array(size_t n) {
  return std::unique_ptr<T[], AlignedFree>(static_cast<T*>(allocate_streamed(n * sizeof(T))));
}

}  // namespace attn
