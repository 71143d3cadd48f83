#include "attn/nn/matmul_precision.h"

#include <atomic>
#include <oneapi/dnnl/dnnl.hpp>

#include "attn/core/error.h"

namespace attn::nn {

namespace {
std::atomic<MatmulPrecision> requested{MatmulPrecision::kFp32};
}  // namespace

bool bf16_matmul_supported() {
  static const bool supported = [] {
    // The ISA values are nested bit sets: every ISA with bf16 instructions contains this one.
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
    return (isa & bf16) == bf16;
  }();
  return supported;
}

void set_matmul_precision(MatmulPrecision precision) { requested = precision; }

MatmulPrecision matmul_precision() {
  if (requested == MatmulPrecision::kBf16 && bf16_matmul_supported()) return MatmulPrecision::kBf16;
  return MatmulPrecision::kFp32;
}

std::string to_string(MatmulPrecision precision) {
  return precision == MatmulPrecision::kBf16 ? "bf16" : "fp32";
}

MatmulPrecision parse_matmul_precision(const std::string& name) {
  if (name == "fp32") return MatmulPrecision::kFp32;
  if (name == "bf16") return MatmulPrecision::kBf16;
  detail::throw_error("--precision: expected fp32 or bf16, got '", name, "'");
}

}  // namespace attn::nn
