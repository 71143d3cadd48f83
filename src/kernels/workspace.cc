#include "kernels/workspace.h"

#include <memory>

#include "attn/core/tensor.h"

namespace attn::kernels {

float* Workspace(int64_t floats) {
  thread_local std::unique_ptr<float[], AlignedFree> buffer;
  thread_local int64_t size = 0;
  if (size < floats) {
    buffer.reset();  // the old buffer goes back first, so that both never coexist
    buffer = aligned_array<float>(static_cast<size_t>(floats), false);
    size = floats;
  }
  return buffer.get();
}

}  // namespace attn::kernels
