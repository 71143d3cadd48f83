// The process's peak resident memory, for the benchmarks' memory figures (Linux /proc/self).
#pragma once

#include <cstddef>

namespace attn {

// The process's peak resident memory (VmHWM of /proc/self/status) in bytes; 0 if unknown.
size_t peak_rss_bytes();

// Resets the peak resident memory to the current one, where the kernel permits it (else a no-op).
void reset_peak_rss();

}  // namespace attn
