// `attn sdpa`: scaled dot-product attention of .npy files, by the flash kernel or the reference.
//
// Every input is read and checked before anything is computed, and the outputs are written only
// once computing has succeeded (each write is atomic), so a failure leaves no output file.

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "attn/attention.h"
#include "attn/commands.h"
#include "attn/error.h"
#include "attn/npy.h"
#include "attn/reference.h"
#include "attn/sdpa_inputs.h"

namespace attn::cli {

namespace {

struct SdpaOptions {
  SdpaFiles files;
  std::string out, lse, weights;  // output paths; lse and weights are optional
  std::string layout = "bhld";
  std::string impl = "flash";
  bool causal = false;
  std::string causal_align = "bottom-right";
  int64_t window_left = -1;
  int64_t window_right = -1;
  double scale = 0.0;
  CLI::Option* scale_option = nullptr;  // tells whether --scale was given
  double softcap = 0.0;
};

// Weights are computed and written this many elements at a time (4 MiB).
constexpr int64_t kWeightsChunkElements = int64_t{1} << 20;

// Checks the numeric options and sets them, and the masking options, on p.
void apply_options(const SdpaOptions& o, AttentionParams& p) {
  if (o.scale_option->count() > 0) {
    const float scale = static_cast<float>(o.scale);
    ATTN_CHECK(std::isfinite(scale), "--scale: must be a finite float, got ", o.scale);
    p.scale = scale;
  }
  const float softcap = static_cast<float>(o.softcap);
  ATTN_CHECK(std::isfinite(softcap) && softcap >= 0.0f,
             "--softcap: must be a finite float >= 0, got ", o.softcap);
  p.softcap = softcap;
  p.causal = o.causal;
  p.causal_align = o.causal_align == "top-left" ? CausalAlign::kTopLeft : CausalAlign::kBottomRight;
  p.window_left = o.window_left;
  p.window_right = o.window_right;
}

// p restricted to batch b and query head h: the same strides, with B = Hq = Hkv = 1.
AttentionParams single_head_view(const AttentionParams& p, int64_t b, int64_t h) {
  AttentionParams s = p;
  const int64_t kv_head = p.kv_head_of(h);
  s.q += p.q_stride.offset(b, h, 0, 0);
  s.k += p.k_stride.offset(b, kv_head, 0, 0);
  s.v += p.v_stride.offset(b, kv_head, 0, 0);
  s.out += p.out_stride.offset(b, h, 0, 0);
  if (p.lse) s.lse += p.lse_stride.offset(b, h, 0, 0);
  if (p.bool_mask) s.bool_mask += p.bool_mask_stride.offset(b, h, 0, 0);
  if (p.additive_mask) s.additive_mask += p.additive_mask_stride.offset(b, h, 0, 0);
  if (p.key_lengths) s.key_lengths += b;
  if (p.alibi_slopes) s.alibi_slopes += h;
  s.batch = s.q_heads = s.kv_heads = 1;
  return s;
}

// Recomputes the weights [B, Hq, Lq, Lk] from p.lse and streams them to `path` in C order, a
// chunk of query rows of one head at a time, so that memory stays bounded for any size.
void stream_flash_weights(const AttentionParams& p, const std::string& path) {
  NpyStreamWriter writer(path, {p.batch, p.q_heads, p.q_len, p.kv_len});
  const int64_t rows = std::clamp<int64_t>(kWeightsChunkElements / p.kv_len, 1, p.q_len);
  std::vector<float> chunk(static_cast<size_t>(rows * p.kv_len));
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t h = 0; h < p.q_heads; ++h) {
      const AttentionParams head = single_head_view(p, b, h);
      for (int64_t row = 0; row < p.q_len; row += rows) {
        WeightsRequest request;
        request.row_begin = row;
        request.row_end = std::min(p.q_len, row + rows);
        request.out = chunk.data();
        request.out_stride = {rows * p.kv_len, rows * p.kv_len, p.kv_len, 1};
        attention_weights(head, request);
        writer.append(chunk.data(), static_cast<size_t>((request.row_end - row) * p.kv_len));
      }
    }
  }
  writer.finish();
}

// Shapes of the outputs.
std::vector<int64_t> out_shape(const AttentionParams& p) {
  return {p.batch, p.q_heads, p.q_len, p.v_head_dim};
}
std::vector<int64_t> lse_shape(const AttentionParams& p) { return {p.batch, p.q_heads, p.q_len}; }

// The flash forward; weights, when asked for, are recomputed from its log-sum-exp.
void run_flash(const SdpaOptions& o, AttentionParams& p) {
  std::vector<float> out(static_cast<size_t>(p.batch * p.q_heads * p.q_len * p.v_head_dim));
  p.out = out.data();
  p.out_stride = bhld_strides(p.q_heads, p.q_len, p.v_head_dim);
  std::vector<float> lse;
  if (!o.lse.empty() || !o.weights.empty()) {
    lse.resize(static_cast<size_t>(p.batch * p.q_heads * p.q_len));
    p.lse = lse.data();
    p.lse_stride = {p.q_heads * p.q_len, p.q_len, 1, 0};
  }
  flash_attention_forward(p);
  if (!o.weights.empty()) stream_flash_weights(p, o.weights);
  write_npy(o.out, out.data(), out_shape(p));
  if (!o.lse.empty()) write_npy(o.lse, lse.data(), lse_shape(p));
}

std::vector<float> to_float(const std::vector<double>& x) { return {x.begin(), x.end()}; }

// The textbook reference (accumulating in double), written as float32.
void run_reference(const SdpaOptions& o, AttentionParams& p) {
  float unused_out = 0.0f;  // the reference returns its outputs instead of writing p.out
  p.out = &unused_out;
  const ReferenceResult r = attention_reference(p, !o.weights.empty());
  if (!o.weights.empty()) {
    write_npy(o.weights, to_float(r.weights).data(), {p.batch, p.q_heads, p.q_len, p.kv_len});
  }
  write_npy(o.out, to_float(r.out).data(), out_shape(p));
  if (!o.lse.empty()) write_npy(o.lse, to_float(r.lse).data(), lse_shape(p));
}

void run_sdpa(SdpaOptions& o) {
  AttentionParams p;
  apply_options(o, p);
  o.files.layout = o.layout == "blhd" ? Layout::kBlhd : Layout::kBhld;
  const SdpaInputs inputs = load_sdpa_inputs(o.files);
  bind_inputs(inputs, p);
  if (o.impl == "reference") {
    run_reference(o, p);
  } else {
    run_flash(o, p);
  }
}

}  // namespace

void add_sdpa_command(CLI::App& app) {
  auto o = std::make_shared<SdpaOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sdpa", "Scaled dot-product attention of .npy files; outputs are float32 [B, H, L, D].");
  cmd->add_option("--q", o->files.q, "queries [B, Hq, Lq, D], float32 or float64")->required();
  cmd->add_option("--k", o->files.k, "keys [B, Hkv, Lk, D]")->required();
  cmd->add_option("--v", o->files.v, "values [B, Hkv, Lk, Dv]")->required();
  cmd->add_option("--out", o->out, "output [B, Hq, Lq, Dv]")->required();
  cmd->add_option("--lse", o->lse, "log-sum-exp of each row's scores [B, Hq, Lq]");
  cmd->add_option("--weights", o->weights, "attention weights [B, Hq, Lq, Lk]");
  cmd->add_option("--mask", o->files.mask,
                  "bool (attend where true) or additive float mask, broadcastable to "
                  "[B, Hq, Lq, Lk]");
  cmd->add_option("--key-lengths", o->files.key_lengths, "valid keys of each batch, int [B]");
  cmd->add_option("--alibi", o->files.alibi, "ALiBi slopes, float [Hq]");
  cmd->add_flag("--causal", o->causal, "mask keys after each query's position");
  cmd->add_option("--causal-align", o->causal_align, "where the diagonal sits when Lq != Lk")
      ->check(CLI::IsMember({"top-left", "bottom-right"}))
      ->capture_default_str();
  cmd->add_option("--window-left", o->window_left, "keys seen left of the query; < 0: all");
  cmd->add_option("--window-right", o->window_right, "keys seen right of the query; < 0: all");
  o->scale_option = cmd->add_option("--scale", o->scale, "score scale; default 1/sqrt(D)");
  cmd->add_option("--softcap", o->softcap, "> 0: scores become softcap·tanh(score/softcap)");
  cmd->add_option("--impl", o->impl, "flash kernel or textbook reference")
      ->check(CLI::IsMember({"flash", "reference"}))
      ->capture_default_str();
  cmd->add_option("--layout", o->layout, "layout of Q, K and V: bhld or blhd ([B, L, H, D])")
      ->check(CLI::IsMember({"bhld", "blhd"}))
      ->capture_default_str();
  cmd->callback([o] { run_sdpa(*o); });
}

}  // namespace attn::cli
