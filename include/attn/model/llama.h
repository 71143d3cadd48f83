// Llama — the Llama architecture built from the library's layers, for pretrained checkpoints.
//
//   tokens → Embedding → n_layers × TransformerBlock (pre-norm RMSNorm, grouped-query attention
//   with RoPE, SwiGLU feed-forward, no biases) → RMSNorm → classifier → logits
//
// Loads llama2.c checkpoints (attn/io/llama2c.h) and the project's safetensors checkpoints of kind
// "llama". Generation runs token by token against one KV cache per layer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/infer/kv_cache.h"
#include "attn/infer/sampler.h"
#include "attn/io/llama2c.h"
#include "attn/nn/embedding.h"
#include "attn/nn/linear.h"
#include "attn/nn/norm.h"
#include "attn/nn/parameter.h"
#include "attn/nn/transformer_block.h"

namespace attn::model {

class Llama {
 public:
  explicit Llama(const LlamaConfig& config);  // weights zero until loaded

  // A llama2.c file (by its contents) or a safetensors checkpoint of kind "llama".
  static std::unique_ptr<Llama> load(const std::string& path);
  void load_weights(const LlamaWeights& weights);

  // tokens [B·T] → logits [B, T, V], recomputing everything (the reference for generation).
  Tensor forward(std::span<const int32_t> tokens, int64_t batch, int64_t len);
  // One KV cache per layer for one sequence of up to seq_len tokens, stored as `dtype`.
  std::vector<std::unique_ptr<KvCache>> make_caches(KvDtype dtype = KvDtype::kF32) const;
  // The next tokens of the sequence in `caches` → logits [1, n, V].
  Tensor forward_cached(std::span<const int32_t> tokens,
                        std::vector<std::unique_ptr<KvCache>>& caches);
  // Samples `count` tokens after `prompt` (≤ seq_len in all; the caller caps `count` at the
  // context): the prompt's prefill, then one token at a time through fresh caches of `dtype`;
  // step n draws with step index n. `on_logits` (optional) sees every logits tensor computed:
  // the prefill's [1, prompt, V], then each step's [1, 1, V] (the last token's are not computed).
  std::vector<int32_t> generate(std::span<const int32_t> prompt, int64_t count,
                                const infer::Sampler& sampler, KvDtype dtype = KvDtype::kF32,
                                const std::function<void(const Tensor&)>& on_logits = {});

  std::vector<nn::Parameter> parameters();
  const LlamaConfig& config() const { return config_; }

 private:
  void check_tokens(std::span<const int32_t> tokens) const;

  LlamaConfig config_;
  nn::Embedding tok_;
  std::vector<std::unique_ptr<nn::TransformerBlock>> blocks_;
  nn::Norm norm_;
  nn::Linear head_;
};

}  // namespace attn::model
