#include "attn/model/llama.h"

#include <algorithm>
#include <cstring>

#include "attn/core/error.h"
#include "attn/infer/cached_attention.h"
#include "attn/io/checkpoint.h"
#include "attn/io/safetensors.h"

namespace attn::model {

namespace {

nn::TransformerBlockConfig block_config(const LlamaConfig& c) {
  return {.d_model = c.dim,
          .n_heads = c.n_heads,
          .n_kv_heads = c.n_kv_heads,
          .d_ff = c.hidden_dim,
          .norm = nn::NormKind::kRMSNorm,
          .norm_eps = c.norm_eps,
          .activation = nn::Activation::kSwiGLU,
          .pre_norm = true,
          .causal = true,
          .rope = true,
          .rope_base = c.rope_base,
          .bias = false};
}

const LlamaConfig& checked(const LlamaConfig& c) {
  validate(c);
  return c;
}

// Copies `from` into the parameter `to`, which must have as many elements.
void copy_into(const nn::Parameter& to, const std::vector<float>& from) {
  ATTN_CHECK(from.size() == to.size, "llama: ", to.name, " needs ", to.size, " values, got ",
             from.size());
  std::copy(from.begin(), from.end(), to.value);
}

}  // namespace

Llama::Llama(const LlamaConfig& config)
    : config_(checked(config)),
      tok_(config.vocab_size, config.dim, 0),
      norm_(nn::NormKind::kRMSNorm, config.dim, config.norm_eps),
      head_(config.dim, config.vocab_size, /*bias=*/false, 0) {
  for (int64_t i = 0; i < config.n_layers; ++i) {
    blocks_.push_back(std::make_unique<nn::TransformerBlock>(block_config(config)));
  }
}

void Llama::load_weights(const LlamaWeights& w) {
  const std::vector<nn::Parameter> params = parameters();
  auto find = [&](const std::string& name) -> const nn::Parameter& {
    for (const nn::Parameter& p : params) {
      if (p.name == name) return p;
    }
    detail::throw_error("llama: no parameter ", name);
  };
  copy_into(find("tok.weight"), w.token_embedding);
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LlamaLayerWeights& l = w.layers[i];
    const std::string b = "block" + std::to_string(i) + ".";
    copy_into(find(b + "norm1.weight"), l.rms_att);
    copy_into(find(b + "attn.wq.weight"), l.wq);
    copy_into(find(b + "attn.wk.weight"), l.wk);
    copy_into(find(b + "attn.wv.weight"), l.wv);
    copy_into(find(b + "attn.wo.weight"), l.wo);
    copy_into(find(b + "norm2.weight"), l.rms_ffn);
    copy_into(find(b + "ffn.w1.weight"), l.w1);
    copy_into(find(b + "ffn.w2.weight"), l.w2);
    copy_into(find(b + "ffn.w3.weight"), l.w3);
  }
  copy_into(find("norm.weight"), w.rms_final);
  copy_into(find("head.weight"), w.wcls.empty() ? w.token_embedding : w.wcls);
}

std::unique_ptr<Llama> Llama::load(const std::string& path) {
  if (!looks_like_safetensors(path)) {
    const Llama2cCheckpoint ckpt = read_llama2c(path);
    auto model = std::make_unique<Llama>(ckpt.config);
    model->load_weights(ckpt.weights);
    return model;
  }
  const SafetensorsFile file = SafetensorsFile::read(path);
  expect_kind(file, "llama", path);
  // The config: JSON, or the seven llama2.c header fields of earlier files.
  LlamaConfig c;
  try {
    c = llama_config_from_text(file.meta("config"));
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  auto model = std::make_unique<Llama>(c);
  load_parameters(file, model->parameters());
  return model;
}

void Llama::check_tokens(std::span<const int32_t> tokens) const {
  for (int32_t t : tokens) {
    ATTN_CHECK(t >= 0 && t < config_.vocab_size, "token id ", t, " is outside the vocabulary [0, ",
               config_.vocab_size, ")");
  }
}

Tensor Llama::forward(std::span<const int32_t> tokens, int64_t batch, int64_t len) {
  ATTN_CHECK(len >= 1 && len <= config_.seq_len, "llama: ", len, " tokens exceed the context of ",
             config_.seq_len);
  check_tokens(tokens);
  Tensor x = tok_.forward(tokens, batch, len);
  for (auto& block : blocks_) x = block->forward(x);
  return head_.forward(norm_.forward(x));
}

std::vector<std::unique_ptr<KvCache>> Llama::make_caches(KvDtype dtype) const {
  KvCacheConfig c;
  c.kv_heads = config_.n_kv_heads;
  c.head_dim = c.v_head_dim = config_.head_size();
  c.capacity = config_.seq_len;
  c.dtype = dtype;
  std::vector<std::unique_ptr<KvCache>> caches;
  for (int64_t i = 0; i < config_.n_layers; ++i) caches.push_back(std::make_unique<KvCache>(c));
  return caches;
}

Tensor Llama::forward_cached(std::span<const int32_t> tokens,
                             std::vector<std::unique_ptr<KvCache>>& caches) {
  ATTN_CHECK(caches.size() == blocks_.size(), "llama: one KV cache per layer is needed");
  const int64_t n = static_cast<int64_t>(tokens.size());
  ATTN_CHECK(n >= 1 && caches[0]->length(0) + n <= config_.seq_len,
             "llama: ", caches[0]->length(0) + n, " tokens exceed the context of ",
             config_.seq_len);
  check_tokens(tokens);
  Tensor x = tok_.forward(tokens, 1, n);
  for (size_t i = 0; i < blocks_.size(); ++i)
    x = infer::block_forward_cached(*blocks_[i], x, *caches[i]);
  return head_.forward(norm_.forward(x));
}

std::vector<nn::Parameter> Llama::parameters() {
  std::vector<nn::Parameter> params;
  nn::append_parameters(params, "tok", tok_.parameters());
  for (size_t i = 0; i < blocks_.size(); ++i) {
    nn::append_parameters(params, "block" + std::to_string(i), blocks_[i]->parameters());
  }
  nn::append_parameters(params, "norm", norm_.parameters());
  nn::append_parameters(params, "head", head_.parameters());
  return params;
}

std::vector<int32_t> Llama::generate(std::span<const int32_t> prompt, int64_t count,
                                    const infer::Sampler& sampler, KvDtype dtype,
                                    const std::function<void(const Tensor&)>& on_logits) {
  const int64_t vocab = config_.vocab_size;
  ATTN_CHECK(count >= 0 && static_cast<int64_t>(prompt.size()) + count <= config_.seq_len,
             "generate: ", prompt.size(), " prompt tokens and ", count,
             " new ones exceed the model's context of ", config_.seq_len);
  auto caches = make_caches(dtype);
  Tensor logits = forward_cached(prompt, caches);
  if (on_logits) on_logits(logits);
  std::vector<int32_t> out;
  for (int64_t n = 0; n < count; ++n) {
    const float* last = logits.data() + logits.size() - vocab;
    const int32_t next = sampler.sample(std::span<const float>(last, vocab), uint64_t(n));
    out.push_back(next);
    if (n + 1 == count) break;
    logits = forward_cached(std::span<const int32_t>(&next, 1), caches);
    if (on_logits) on_logits(logits);
  }
  return out;
}

}  // namespace attn::model
