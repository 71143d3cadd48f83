// Scaled dot-product attention: the flash forward kernel and attention-weights recomputation.
//
// All functions take the AttentionParams struct (attention_params.h), which documents the shapes,
// strides and options. They validate it first and throw attn::Error on bad input.
#pragma once

#include <cstdint>

#include "attn/core/attention_params.h"
#include "attn/core/tensor.h"

namespace attn {

// Flash forward: writes p.out [B, Hq, Lq, Dv] and, when p.lse is set, p.lse [B, Hq, Lq].
// Tiled over queries and keys with an online softmax and fp32 accumulation; it never allocates
// anything of size Lq×Lk, skips wholly masked tiles, runs on the OpenMP threads, and gives
// bitwise identical results for any number of threads.
void flash_attention_forward(const AttentionParams& p);

// How the flash backward divides its work. Both plans hold the same error rule and give bitwise
// identical results for any number of threads; kAuto chooses from the shapes alone.
enum class BackwardPlan {
  kAuto,   // kFused when B·Hkv ≥ kFusedBackwardMinItems and the fused plan's scratch per thread
           // (fused_backward_scratch_bytes) is at most kFusedBackwardMaxScratchBytes, else kSplit
  kSplit,  // two passes: dQ per (batch, query head, query tile), then dK and dV per (batch, KV
           // head, key tile); S and dP are computed in both (8 tile GEMMs), in many small items
  kFused,  // one pass per (batch, KV head), which owns dK, dV and its group's dq: S and dP
           // computed once (5 tile GEMMs), ~1.3x faster; B·Hkv items only, and a per-thread
           // scratch that grows with Lk (the head's packed keys and one query tile's P, dP and
           // softcap' over all keys), kept by the calling thread between calls
};
// kAuto takes kFused from this many (batch, KV head) pairs on ...
inline constexpr int64_t kFusedBackwardMinItems = 8;
// ... while its scratch per thread stays within this (Lk up to ~20k keys at D = Dv = 128).
inline constexpr int64_t kFusedBackwardMaxScratchBytes = int64_t{64} << 20;

// Bytes of the fused plan's scratch per thread, exactly as the kernel carves it on the running
// SIMD target: about (2·D + 2·Dv + D + 3·64) floats per key, the keys rounded up to the 64-key
// tile, plus a few KiB for the visited rows.
int64_t fused_backward_scratch_bytes(const AttentionParams& p);

// The plan that flash_attention_backward runs for `plan` on p's shapes: kAuto resolved as
// documented above, kSplit and kFused as they are.
BackwardPlan resolve_backward_plan(const AttentionParams& p, BackwardPlan plan);

// Gradients of the flash forward's output, and where to write the input gradients.
struct AttentionGrads {
  const float* dout = nullptr;  // dL/dout [B, Hq, Lq, Dv]
  Strides4 dout_stride;
  const uint16_t* dout16 = nullptr;  // dout in p.input_type when that is bf16 or f16 (then dout
                                     // stays null); dq, dk and dv are float for every input type
  float* dq = nullptr;  // dL/dq [B, Hq, Lq, D]
  Strides4 dq_stride;
  float* dk = nullptr;  // dL/dk [B, Hkv, Lk, D]: summed over the query heads sharing a KV head
  Strides4 dk_stride;
  float* dv = nullptr;  // dL/dv [B, Hkv, Lk, Dv]: likewise
  Strides4 dv_stride;
  BackwardPlan plan = BackwardPlan::kAuto;
  // The call's keys are a block of each row's keys (ring attention), p.out and p.lse being those
  // of the whole row. The kernel then takes P = exp(S − lse) and Δ = Σ dO ∘ O as they are: the two
  // corrections it otherwise draws from the row's sum of P over its keys (which is 1 only when
  // the call sees them all) are off.
  bool partial_keys = false;
};

// Flash backward: dq, dk and dv from dout, for every option of the forward. p.out and p.lse must
// hold what flash_attention_forward wrote for the same inputs; the scores are recomputed from the
// saved log-sum-exp, so extra memory is O(L), never O(Lq×Lk). Deterministic: bitwise identical
// for any number of threads (each gradient element has one owner; no atomics).
void flash_attention_backward(const AttentionParams& p, const AttentionGrads& g);

// g moved to packed sequence s of p (dout and dq to its first row, dk and dv to its first key):
// with sequence_params(p, s), the backward of that sequence alone.
AttentionGrads sequence_grads(const AttentionParams& p, const AttentionGrads& g, int64_t s);

// Which attention weights to recompute, and where to write them.
struct WeightsRequest {
  int64_t row_begin = 0;       // first query row
  int64_t row_end = -1;        // one past the last query row; negative means Lq
  bool average_heads = false;  // true: the mean over the Hq heads, written as head 0
  float* out = nullptr;        // [B, Hq (or 1 if averaged), row_end − row_begin, Lk]
  Strides4 out_stride;         // strides of out, indexed [b, h, row − row_begin, key]
};

// Attention weights softmax(s) for a range of query rows, recomputed from the log-sum-exp that
// flash_attention_forward saved in p.lse (which must be set). Memory beyond `out` is O(Lk).
// With attention dropout these are the undropped softmax weights: the dropout fields of p are
// ignored (the dropped weights are P ∘ M / (1 − p), M from attn/core/dropout_mask.h).
void attention_weights(const AttentionParams& p, const WeightsRequest& request);

}  // namespace attn
