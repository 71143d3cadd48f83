// Scratch memory of the kernels that is kept from one call to the next.
#pragma once

#include <cstddef>
#include <cstdint>

namespace attn::kernels {

// A 64-byte aligned block of at least `bytes` bytes (contents unspecified), owned by the calling
// thread and kept between calls: a decode step allocates nothing, and repeated backward calls do
// not return a large scratch to the heap at every call only to ask for it again. The block only
// grows (to the largest request of the thread). Not reentrant: a caller is done with it before
// the next call on the same thread. Carve it with a ScratchArena (scratch_arena.h).
std::byte* Workspace(int64_t bytes);

}  // namespace attn::kernels
