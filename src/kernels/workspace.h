// Scratch memory of the kernels that is kept from one call to the next.
#pragma once

#include <cstdint>

namespace attn::kernels {

// A 64-byte aligned buffer of at least `floats` floats (contents unspecified), owned by the
// calling thread and kept between calls: a decode step allocates nothing, and repeated
// backward calls do not return a large scratch to the heap at every call only to ask for it
// again. The buffer only grows (to the largest request of the thread). Not reentrant: a caller
// is done with it before the next call on the same thread.
float* Workspace(int64_t floats);

}  // namespace attn::kernels
