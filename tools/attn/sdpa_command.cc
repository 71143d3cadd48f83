// `attn sdpa`: scaled dot-product attention of .npy files, by the flash kernel or the reference,
// and, given the gradient of the output (--dout), the gradients of q, k and v.
//
// Every input is read and checked before anything is computed, and the outputs are written only
// once computing has succeeded (each write is atomic), so a failure leaves no output file.
//
// Under mpirun with P > 1 ranks it runs ring attention (sdpa_ring.h): rank 0 reads the inputs and
// writes the outputs, every rank computes the rows of its shard.

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "attn/core/element_type.h"
#include "attn/core/error.h"
#include "attn/io/npy.h"
#include "attn/kernels/attention.h"
#include "attn/ref/attention_reference.h"
#include "cli_kit.h"
#include "commands.h"
#include "mpi_world.h"
#include "sdpa_inputs.h"
#include "sdpa_ring.h"

namespace attn::cli {

namespace {

struct SdpaOptions {
  SdpaFiles files;
  std::string out, lse, weights;  // output paths; lse and weights are optional
  std::string dq, dk, dv;         // gradient paths, each optional; they need files.dout
  std::string layout = "bhld";
  std::string impl = "flash";
  bool causal = false;
  std::string causal_align = "bottom-right";
  int64_t window_left = -1;
  int64_t window_right = -1;
  double scale = 0.0;
  CLI::Option* scale_option = nullptr;  // tells whether --scale was given
  double softcap = 0.0;
  double dropout = 0.0;                   // attention dropout probability
  uint64_t dropout_seed = 0;              // its mask
  ElementType dtype = ElementType::kF32;  // q, k, v and dout are rounded to it
  int threads = 0;
  RingSharding sharding = RingSharding::kZigzag;  // under mpirun with P > 1
};

// q, k and v of the float params rounded to a 16-bit type, at the same strides.
struct RoundedQkv {
  std::vector<uint16_t> q, k, v;
};

// The n floats at x rounded to t, element by element (the inputs are whole dense files, in
// either layout, so their elements are [0, n) whatever the strides).
std::vector<uint16_t> rounded_to(const float* x, int64_t n, ElementType t) {
  std::vector<uint16_t> r(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) r[i] = from_float(x[i], t);
  return r;
}

// Points p at q, k and v rounded to t (into `rounded`); the output stays float.
void use_dtype(ElementType t, AttentionParams& p, RoundedQkv& rounded) {
  rounded.q = rounded_to(p.q, p.batch * p.q_heads * p.q_len * p.head_dim, t);
  rounded.k = rounded_to(p.k, p.batch * p.kv_heads * p.kv_len * p.head_dim, t);
  rounded.v = rounded_to(p.v, p.batch * p.kv_heads * p.kv_len * p.v_head_dim, t);
  p.input_type = t;
  p.q16 = rounded.q.data();
  p.k16 = rounded.k.data();
  p.v16 = rounded.v.data();
  p.q = p.k = p.v = nullptr;
}

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
  ATTN_CHECK(o.dropout >= 0.0 && o.dropout < 1.0, "--dropout: must be in [0, 1), got ", o.dropout);
  p.dropout_p = static_cast<float>(o.dropout);
  ATTN_CHECK(p.dropout_p < 1.0f, "--dropout: ", o.dropout, " rounds to 1 in float");
  p.dropout_seed = o.dropout_seed;
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

bool wants_gradients(const SdpaOptions& o) {
  return !o.dq.empty() || !o.dk.empty() || !o.dv.empty();
}

// --dout and the gradient outputs come together.
void check_gradient_options(const SdpaOptions& o) {
  check_usage(!wants_gradients(o) || !o.files.dout.empty(), "--dq, --dk and --dv need --dout");
  check_usage(o.files.dout.empty() || wants_gradients(o),
              "--dout: give --dq, --dk or --dv to write gradients");
}

// Writes the requested gradients: dq [B, Hq, Lq, D], dk [B, Hkv, Lk, D], dv [B, Hkv, Lk, Dv].
void write_gradients(const SdpaOptions& o, const AttentionParams& p, const float* dq,
                     const float* dk, const float* dv) {
  if (!o.dq.empty()) write_npy(o.dq, dq, {p.batch, p.q_heads, p.q_len, p.head_dim});
  if (!o.dk.empty()) write_npy(o.dk, dk, {p.batch, p.kv_heads, p.kv_len, p.head_dim});
  if (!o.dv.empty()) write_npy(o.dv, dv, {p.batch, p.kv_heads, p.kv_len, p.v_head_dim});
}

// The gradients of q, k and v, contiguous [B, H, L, D] each.
struct Gradients {
  std::vector<float> dq, dk, dv;
};

// The flash backward of p (whose out and lse hold the forward's) for dout [B, Hq, Lq, Dv].
Gradients flash_gradients(const AttentionParams& p, const std::vector<float>& dout) {
  Gradients r;
  r.dq.resize(static_cast<size_t>(p.batch * p.q_heads * p.q_len * p.head_dim));
  r.dk.resize(static_cast<size_t>(p.batch * p.kv_heads * p.kv_len * p.head_dim));
  r.dv.resize(static_cast<size_t>(p.batch * p.kv_heads * p.kv_len * p.v_head_dim));
  AttentionGrads g;
  std::vector<uint16_t> dout16;
  if (p.input_type != ElementType::kF32) {  // dout is already rounded to the type
    dout16 = rounded_to(dout.data(), static_cast<int64_t>(dout.size()), p.input_type);
    g.dout16 = dout16.data();
  } else {
    g.dout = dout.data();
  }
  g.dout_stride = bhld_strides(p.q_heads, p.q_len, p.v_head_dim);
  g.dq = r.dq.data();
  g.dq_stride = bhld_strides(p.q_heads, p.q_len, p.head_dim);
  g.dk = r.dk.data();
  g.dk_stride = bhld_strides(p.kv_heads, p.kv_len, p.head_dim);
  g.dv = r.dv.data();
  g.dv_stride = bhld_strides(p.kv_heads, p.kv_len, p.v_head_dim);
  flash_attention_backward(p, g);
  return r;
}

// The flash forward; weights, when asked for, are recomputed from its log-sum-exp, and the
// gradients come from the flash backward.
void run_flash(const SdpaOptions& o, const std::vector<float>& dout, AttentionParams& p) {
  std::vector<float> out(static_cast<size_t>(p.batch * p.q_heads * p.q_len * p.v_head_dim));
  p.out = out.data();
  p.out_stride = bhld_strides(p.q_heads, p.q_len, p.v_head_dim);
  std::vector<float> lse;
  if (!o.lse.empty() || !o.weights.empty() || wants_gradients(o)) {
    lse.resize(static_cast<size_t>(p.batch * p.q_heads * p.q_len));
    p.lse = lse.data();
    p.lse_stride = {p.q_heads * p.q_len, p.q_len, 1, 0};
  }
  flash_attention_forward(p);
  const Gradients grads = wants_gradients(o) ? flash_gradients(p, dout) : Gradients{};
  if (!o.weights.empty()) stream_flash_weights(p, o.weights);
  write_npy(o.out, out.data(), out_shape(p));
  if (!o.lse.empty()) write_npy(o.lse, lse.data(), lse_shape(p));
  write_gradients(o, p, grads.dq.data(), grads.dk.data(), grads.dv.data());
}

std::vector<float> to_float(const std::vector<double>& x) { return {x.begin(), x.end()}; }

// The textbook reference and its backward (accumulating in double), written as float32.
void run_reference(const SdpaOptions& o, const std::vector<float>& dout, AttentionParams& p) {
  float unused_out = 0.0f;  // the reference returns its outputs instead of writing p.out
  p.out = &unused_out;
  const ReferenceResult r = attention_reference(p, !o.weights.empty());
  const ReferenceGrads grads =
      wants_gradients(o) ? attention_reference_backward(
                               p, dout.data(), bhld_strides(p.q_heads, p.q_len, p.v_head_dim))
                         : ReferenceGrads{};
  if (!o.weights.empty()) {
    write_npy(o.weights, to_float(r.weights).data(), {p.batch, p.q_heads, p.q_len, p.kv_len});
  }
  write_npy(o.out, to_float(r.out).data(), out_shape(p));
  if (!o.lse.empty()) write_npy(o.lse, to_float(r.lse).data(), lse_shape(p));
  write_gradients(o, p, to_float(grads.dq).data(), to_float(grads.dk).data(),
                  to_float(grads.dv).data());
}

// The options that ring attention does not take: a usage error naming the option.
void check_ring_options(const SdpaOptions& o) {
  const char* ring = " is not supported under mpirun (ring attention over the ranks)";
  check_usage(o.files.mask.empty(), "--mask", ring);
  check_usage(o.weights.empty(), "--weights", ring,
              ": the [B, Hq, L, L] weights are what the ring never holds");
  check_usage(o.impl == "flash", "--impl ", o.impl, ring, ", which runs the flash kernel");
  check_usage(o.dtype == ElementType::kF32, "--dtype ", element_type_name(o.dtype), ring,
              ", which reads float32 shards");
  check_usage(o.files.cu_seqlens_q.empty() && o.files.cu_seqlens_k.empty(), "--cu-seqlens-q/-k",
              ring, ": the ring cuts one sequence");
  const bool positional = o.causal || o.window_left >= 0 || o.window_right >= 0;
  check_usage(o.files.key_lengths.empty() || !positional || o.causal_align == "top-left",
              "--key-lengths with --causal or a window needs --causal-align top-left under "
              "mpirun (bottom-right would shift every query by its batch's padding)");
}

// The job of the ranks under mpirun, from the checked options.
SdpaRingJob ring_job(const SdpaOptions& o) {
  SdpaRingJob job;
  job.files = o.files;
  job.out = o.out;
  job.lse = o.lse;
  job.dq = o.dq;
  job.dk = o.dk;
  job.dv = o.dv;
  job.sharding = o.sharding;
  job.apply_options = [&o](AttentionParams& p) { apply_options(o, p); };
  return job;
}

void run_sdpa(SdpaOptions& o) {
  AttentionParams options;
  apply_options(o, options);  // checked before any file is read
  check_gradient_options(o);
  o.files.layout = o.layout == "blhd" ? Layout::kBlhd : Layout::kBhld;
  if (world().distributed()) {
    check_ring_options(o);
    return run_sdpa_ring(ring_job(o));
  }
  const SdpaInputs inputs = load_sdpa_inputs(o.files);
  AttentionParams p = bind_inputs(inputs);
  apply_options(o, p);
  RoundedQkv rounded;
  std::vector<float> dout = inputs.dout;
  if (o.dtype != ElementType::kF32) {
    check_usage(o.weights.empty(), "--weights: only with --dtype f32");
    use_dtype(o.dtype, p, rounded);
    for (float& x : dout) x = round_to(x, o.dtype);
  }
  if (o.impl == "reference") {
    run_reference(o, dout, p);
  } else {
    run_flash(o, dout, p);
  }
}

}  // namespace

void add_sdpa_command(CLI::App& app) {
  auto o = std::make_shared<SdpaOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sdpa",
      "Scaled dot-product attention of .npy files; outputs are float32 [B, H, L, D]. Under "
      "mpirun -np P (P > 1) it runs ring attention: rank 0 reads the inputs and writes the "
      "outputs, each rank computes L/P rows; Lq = Lk, and --mask, --weights and --impl "
      "reference are not supported there.");
  cmd->add_option("--q", o->files.q, "queries [B, Hq, Lq, D], float32 or float64")->required();
  cmd->add_option("--k", o->files.k, "keys [B, Hkv, Lk, D]")->required();
  cmd->add_option("--v", o->files.v, "values [B, Hkv, Lk, Dv]")->required();
  add_out_option(*cmd, o->out, "output [B, Hq, Lq, Dv]");
  cmd->add_option("--lse", o->lse, "log-sum-exp of each row's scores [B, Hq, Lq]");
  cmd->add_option("--weights", o->weights, "attention weights [B, Hq, Lq, Lk]");
  cmd->add_option("--mask", o->files.mask,
                  "bool (attend where true) or additive float mask, broadcastable to "
                  "[B, Hq, Lq, Lk]");
  cmd->add_option("--key-lengths", o->files.key_lengths, "valid keys of each batch, int [B]");
  cmd->add_option("--alibi", o->files.alibi, "ALiBi slopes, float [Hq]");
  cmd->add_option("--cu-seqlens-q", o->files.cu_seqlens_q,
                  "packed sequences: int32 offsets [n + 1] of their query rows in q (B = 1); "
                  "each sequence attends only within itself");
  cmd->add_option("--cu-seqlens-k", o->files.cu_seqlens_k,
                  "packed sequences: int32 offsets [n + 1] of their keys in k and v");
  cmd->add_option("--dout", o->files.dout,
                  "gradient of the output [B, Hq, Lq, Dv] (this order for either layout)");
  cmd->add_option("--dq", o->dq, "gradient of q, written [B, Hq, Lq, D]; needs --dout");
  cmd->add_option("--dk", o->dk, "gradient of k, written [B, Hkv, Lk, D]; needs --dout");
  cmd->add_option("--dv", o->dv, "gradient of v, written [B, Hkv, Lk, Dv]; needs --dout");
  cmd->add_flag("--causal", o->causal, "mask keys after each query's position");
  one_of(cmd->add_option("--causal-align", o->causal_align, "where the diagonal sits when Lq != Lk")
             ->capture_default_str(),
         {"top-left", "bottom-right"});
  cmd->add_option("--window-left", o->window_left, "keys seen left of the query; < 0: all");
  cmd->add_option("--window-right", o->window_right, "keys seen right of the query; < 0: all");
  o->scale_option = finite(cmd->add_option("--scale", o->scale, "score scale; default 1/sqrt(D)"));
  at_least(finite(cmd->add_option("--softcap", o->softcap,
                                  "> 0: scores become softcap·tanh(score/softcap)")),
           0);
  probability(cmd->add_option("--dropout", o->dropout,
                              "attention dropout probability: weights dropped after the softmax "
                              "(--weights stay the undropped softmax)"));
  cmd->add_option("--dropout-seed", o->dropout_seed, "seed of the attention dropout mask");
  one_of(cmd->add_option("--impl", o->impl, "flash kernel or textbook reference")
             ->capture_default_str(),
         {"flash", "reference"});
  one_of(cmd->add_option("--layout", o->layout, "layout of Q, K and V: bhld or blhd ([B, L, H, D])")
             ->capture_default_str(),
         {"bhld", "blhd"});
  add_sharding_option(*cmd, o->sharding,
                      "under mpirun with P > 1: how the sequence is cut among the ranks; "
                      "a single process ignores it");
  add_choice_option(*cmd, "--dtype", o->dtype, kElementTypes,
                    "type q, k, v and dout are rounded to before attention; fp32 accumulation, "
                    "float32 outputs (default f32)");
  add_threads_option(*cmd, o->threads);
  cmd->callback([o] {
    use_threads(o->threads);
    run_sdpa(*o);
  });
}

}  // namespace attn::cli
