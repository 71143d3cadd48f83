// The precision of the matrix products of nn::Linear, chosen for the whole process.
//
//   kFp32  fp32 inputs, fp32 products (OpenBLAS sgemm): the default, bitwise the same for any
//          thread count.
//   kBf16  mixed precision: x, W and dy are rounded to bfloat16 (round to nearest even) for
//          the products, which accumulate in fp32 and write fp32 (oneDNN matmul, on AMX or
//          AVX512-BF16). Weights, gradients, activations between layers and the optimiser stay
//          fp32. Roughly 3 significant digits per product input: the losses track fp32 closely
//          but not bitwise (docs/LAYERS.md).
//
// kBf16 takes effect only where the CPU computes bf16 natively (bf16_matmul_supported());
// elsewhere the products stay fp32, so a program asking for bf16 runs everywhere.
#pragma once

#include <string>

namespace attn::nn {

enum class MatmulPrecision { kFp32, kBf16 };

// True when this CPU has AMX-BF16 or AVX512-BF16 instructions that oneDNN uses.
bool bf16_matmul_supported();

// Sets the precision asked for; Linear layers read it at each forward pass.
void set_matmul_precision(MatmulPrecision precision);

// The precision in effect: kBf16 only when asked for and supported.
MatmulPrecision matmul_precision();

// "fp32" or "bf16".
std::string to_string(MatmulPrecision precision);

// Parses "fp32" or "bf16"; throws attn::Error naming the value otherwise.
MatmulPrecision parse_matmul_precision(const std::string& name);

}  // namespace attn::nn
