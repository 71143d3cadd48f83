#include "attn/nn/attention_precision.h"

#include <atomic>

namespace attn::nn {

namespace {
std::atomic<AttentionPrecision> current{AttentionPrecision::kFp32};
}  // namespace

void set_attention_precision(AttentionPrecision precision) { current = precision; }

AttentionPrecision attention_precision() { return current; }

std::string to_string(AttentionPrecision precision) {
  return precision == AttentionPrecision::kBf16 ? "bf16" : "fp32";
}

}  // namespace attn::nn
