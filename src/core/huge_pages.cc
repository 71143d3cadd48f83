// Buffers backed by transparent huge pages (attn/core/huge_pages.h).
#include "attn/core/huge_pages.h"

#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace attn {

void* allocate_streamed(size_t bytes) {
  const bool huge = bytes >= kHugePageBytes;
  const size_t align = huge ? kHugePageBytes : 64;
  const size_t size = bytes == 0 ? align : (bytes + align - 1) / align * align;
  void* p = std::aligned_alloc(align, size);
  if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Advice only (without THP the pages stay 4 KiB), and for the whole huge pages of the buffer:
  // the partial one at its end stays in 4 KiB pages, so a buffer of a little over 2 MiB (a large
  // paged-cache block) does not take twice its size.
  if (huge) madvise(p, bytes / kHugePageBytes * kHugePageBytes, MADV_HUGEPAGE);
#endif
  std::memset(p, 0, bytes);  // the first touch, after the advice, is what places the pages
  return p;
}

}  // namespace attn
