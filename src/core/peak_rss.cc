// Peak resident memory of the process (attn/core/peak_rss.h), from Linux's /proc/self.

#include "attn/core/peak_rss.h"

#include <cstddef>
#include <fstream>
#include <sstream>
#include <string>

namespace attn {

size_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    size_t kib = 0;
    fields >> kib;
    return kib * 1024;
  }
  return 0;
}

void reset_peak_rss() {
  // Writing 5 to clear_refs resets VmHWM to the current resident size (Linux >= 4.0).
  std::ofstream clear_refs("/proc/self/clear_refs");
  if (clear_refs) clear_refs << "5";
}

}  // namespace attn
