#include "attn/core/simd_target.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>

#include "attn/core/error.h"
#include "hwy/highway.h"
#include "hwy/targets.h"

namespace attn {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Targets compiled into this library, best first.
std::vector<int64_t> compiled_targets() {
  std::vector<int64_t> targets;
  for (int64_t bits = HWY_TARGETS; bits != 0; bits &= bits - 1) {
    targets.push_back(bits & ~(bits - 1));
  }
  return targets;
}

int64_t cpu_targets() {
  static const int64_t mask = [] {
    hwy::SetSupportedTargetsForTest(0);
    return hwy::SupportedTargets();
  }();
  return mask;
}

}  // namespace

std::vector<std::string> supported_simd_targets() {
  std::vector<std::string> names;
  for (int64_t t : compiled_targets()) {
    if (t & cpu_targets()) names.push_back(lower(hwy::TargetName(t)));
  }
  return names;
}

std::string active_simd_target() {
  const int64_t chosen = hwy::SupportedTargets() & HWY_TARGETS;
  return lower(hwy::TargetName(chosen & ~(chosen - 1)));
}

void force_simd_target(const std::string& name) {
  cpu_targets();  // records the CPU's own mask before any restriction
  if (name.empty()) {
    hwy::SetSupportedTargetsForTest(0);
    return;
  }
  for (int64_t t : compiled_targets()) {
    if (lower(hwy::TargetName(t)) != lower(name)) continue;
    ATTN_CHECK(t & cpu_targets(), "SIMD target '", name, "' is not supported by this CPU");
    hwy::SetSupportedTargetsForTest(t);
    return;
  }
  std::string known;
  for (const std::string& n : supported_simd_targets()) known += (known.empty() ? "" : ", ") + n;
  detail::throw_error("unknown SIMD target '", name, "' (this CPU runs: ", known, ")");
}

void apply_simd_target_from_env() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("ATTN_SIMD_TARGET");
    if (env != nullptr && *env != '\0') force_simd_target(env);
  });
}

}  // namespace attn
