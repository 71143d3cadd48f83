// The input files of `attn sdpa`: reading them and checking that their shapes fit together.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attn/core/attention_params.h"
#include "attn/core/tensor.h"

namespace attn::cli {

// Memory layout of the Q, K and V files.
enum class Layout {
  kBhld,  // [B, H, L, D] (PyTorch)
  kBlhd,  // [B, L, H, D] (FlashAttention), read through strides, never transposed
};

// Paths of the input files; an empty path means the input is not given.
struct SdpaFiles {
  std::string q, k, v;
  std::string mask;  // bool → bool_mask, float → additive_mask; broadcast to [B,Hq,Lq,Lk]
  std::string key_lengths;  // int32/int64 [B]
  std::string alibi;        // float [Hq]
  std::string dout;         // float [B, Hq, Lq, Dv] (always this order): dL/dout, for gradients
  std::string cu_seqlens_q, cu_seqlens_k;  // int [n + 1]: packed sequences (B = 1)
  Layout layout = Layout::kBhld;
};

// A float tensor read from Q, K or V, viewed as [batch, head, row, col].
struct HeadTensor {
  std::string name;  // "--q q.npy", for messages
  std::vector<int64_t> file_shape;
  std::vector<float> data;
  int64_t batch = 0, heads = 0, len = 0, dim = 0;
  Strides4 stride;
};

// Every input of the kernels, owned; bind_inputs points an AttentionParams into it.
struct SdpaInputs {
  HeadTensor q, k, v;
  std::vector<uint8_t> bool_mask;    // set when the mask file is bool
  std::vector<float> additive_mask;  // set when the mask file is float
  Strides4 mask_stride;              // broadcasting strides of whichever mask is set
  std::vector<int64_t> key_lengths;  // [B] or empty
  std::vector<float> alibi_slopes;   // [Hq] or empty
  std::vector<float> dout;           // [B, Hq, Lq, Dv] contiguous, or empty
  // Packed sequences: the offsets [n + 1] of each, or both empty.
  std::vector<int32_t> cu_seqlens_q, cu_seqlens_k;
};

// Reads every given file and checks each shape, dtype and value against the others; throws
// attn::Error naming the argument, the file and the shape seen.
SdpaInputs load_sdpa_inputs(const SdpaFiles& files);

// Params viewing `in`: input pointers, sizes and strides, masks, key lengths and ALiBi slopes; the
// output pointers are unset and the other options at their defaults.
AttentionParams bind_inputs(const SdpaInputs& in);

// "[2, 3, 4]".
std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace attn::cli
