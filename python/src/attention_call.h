// AttentionCall — one call of the attention kernels from Python: the arrays and the options,
// read into AttentionParams without copying anything.
//
// The options come as one tuple (the "spec", built by attn/_spec.py), in this order:
//   blhd          bool: q, k, v (and out, dq, dk, dv) are [B, L, H, D]; else [B, H, L, D]
//   bool_mask     None or a bool array broadcastable to [B, Hq, Lq, Lk] (True = attend)
//   additive_mask None or a float32 array broadcastable to [B, Hq, Lq, Lk]
//   alibi         None or float32 slopes [Hq] or [B, Hq]
//   scale         None (1/sqrt(D)) or a float
//   softcap, causal, top_left, window_left, window_right, dropout_p, seed, offset
//   cu_seqlens_q  None or int32 offsets [n + 1] of packed sequences (AttentionParams), with
//   cu_seqlens_k  the same for the keys; q, k, v then have B = 1 and the total lengths
//   max_seqlen_q, max_seqlen_k  ints, 0 when not given
// Slopes of shape [B, Hq] run the kernels one batch at a time (AttentionParams takes [Hq]); the
// dropout stream of batch b is then offset ^ (b << 32), so that batches still differ.
//
// bfloat16 and float16 inputs (input_type kBF16 or kF16) are read in place too, as their bit
// patterns: a float16 NumPy array, an int16 or uint16 array holding the bits (a bfloat16 tensor
// viewed as int16), or the description of a 16-bit CPU tensor. The output is then float32 or of
// the input type (output_type); lse and the masks stay float32.
#pragma once

#include <vector>

#include "binding.h"

namespace attn::python {

constexpr size_t kSpecFields = 17;

// A 4-D float32 or 16-bit array indexed [b, h, l, d] whatever its layout.
struct View4 {
  py::array array;             // unset for a tensor read by its description
  float* data = nullptr;       // float32 elements, or
  uint16_t* data16 = nullptr;  // 16-bit ones (bf16 or f16 bit patterns)
  int64_t batch = 0, heads = 0, len = 0, dim = 0;
  Strides4 stride;
};

// The view of `obj` ([B, H, L, D], or [B, L, H, D] when blhd) with elements of type t: an array
// (float32; for kF16 float16, for 16-bit types int16 or uint16 bit patterns), or the description
// (data_ptr, shape, strides) of a CPU tensor of that type that the caller keeps alive.
View4 view4(const py::handle& obj, bool blhd, const char* name, ElementType t = ElementType::kF32);

// A new contiguous array in the layout, and its view: float32, float16 for kF16, int16 bit
// patterns for kBF16.
View4 new_view4(int64_t batch, int64_t heads, int64_t len, int64_t dim, bool blhd,
                ElementType t = ElementType::kF32);

// "f32", "bf16" or "f16" (element_type_name's names) as an ElementType; ValueError otherwise.
ElementType parse_element_type(const std::string& name);

class AttentionCall {
 public:
  // q, k, v and the spec; `out` may be None (allocated). q, k and v hold input_type elements,
  // out output_type ones (kF32, or input_type).
  AttentionCall(const py::handle& q, const py::handle& k, const py::handle& v,
                const py::handle& out, const py::tuple& spec,
                ElementType input_type = ElementType::kF32,
                ElementType output_type = ElementType::kF32);

  // Adds lse [B, Hq, Lq]: allocated when `lse` is None.
  void set_lse(const py::handle& lse);

  bool blhd() const { return blhd_; }
  const AttentionParams& params() const { return p_; }
  const View4& q() const { return q_; }
  const View4& k() const { return k_; }
  const View4& v() const { return v_; }
  const View4& out() const { return out_; }
  const py::object& lse() const { return lse_; }
  int64_t alibi_batches() const { return alibi_batches_; }

  // The params of the kernel calls: one, or one per batch with [B, Hq] slopes.
  std::vector<AttentionParams> parts() const;

 private:
  void read_options(const py::tuple& spec);
  void read_masks(const py::handle& bool_mask, const py::handle& additive_mask);
  void read_alibi(const py::handle& alibi);
  void read_packed(const py::tuple& spec);

  bool blhd_ = false;
  View4 q_, k_, v_, out_;
  py::object lse_ = py::none();
  py::array bool_mask_, additive_mask_, alibi_;
  py::array_t<int32_t> cu_seqlens_q_, cu_seqlens_k_;
  int64_t alibi_batches_ = 0;  // B for [B, Hq] slopes, else 0
  int64_t alibi_batch_stride_ = 0;
  AttentionParams p_;
};

// The batch-b slice of p (batch 1): every pointer (float or 16-bit) moved to batch b, slopes
// row b.
AttentionParams batch_part(const AttentionParams& p, int64_t b, const float* slopes);

}  // namespace attn::python
