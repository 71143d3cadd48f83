#include "kernels/workspace.h"

#include <memory>

#include "attn/core/tensor.h"

namespace attn::kernels {

std::byte* Workspace(int64_t bytes) {
  thread_local std::unique_ptr<std::byte[], AlignedFree> buffer;
  thread_local int64_t size = 0;
  if (size < bytes) {
    buffer.reset();  // the old buffer goes back first, so that both never coexist
    buffer = aligned_array<std::byte>(static_cast<size_t>(bytes), false);
    size = bytes;
  }
  return buffer.get();
}

}  // namespace attn::kernels
