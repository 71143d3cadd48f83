// Gpt — a decoder-only transformer over byte tokens, trained from scratch.
//
//   tokens [B, T] → tok_emb + pos_emb → n_layers × TransformerBlock (pre-norm, causal, GELU)
//                 → LayerNorm → head (Linear, no bias) → logits [B, T, V]
//
// forward keeps what backward needs; backward(dlogits) accumulates every parameter gradient.
// Parameters are named "tok.weight", "pos.weight", "block{i}.…", "norm.…", "head.weight".
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/infer/kv_cache.h"
#include "attn/nn/attention_runner.h"
#include "attn/nn/embedding.h"
#include "attn/nn/learned_position.h"
#include "attn/nn/linear.h"
#include "attn/nn/norm.h"
#include "attn/nn/parameter.h"
#include "attn/nn/transformer_block.h"

namespace attn::model {

struct GptConfig {
  int64_t vocab_size = 256;  // bytes
  int64_t context = 256;     // longest sequence T
  int64_t d_model = 256;     // C
  int64_t n_layers = 4;
  int64_t n_heads = 4;
  int64_t d_ff = 0;           // feed-forward width; 0 means 4·C
  float dropout = 0.0f;       // residual dropout while training
  float attn_dropout = 0.0f;  // attention-weight dropout while training

  std::string to_json() const;
  // Parses a JSON object with any of the fields above; throws attn::Error on unknown fields,
  // wrong types or impossible sizes.
  static GptConfig from_json(const std::string& text);
};

// Throws attn::Error unless the sizes are positive and d_model is a multiple of n_heads.
void validate(const GptConfig& c);

// Where the tokens of a forward sit: positions [start, start + len) of their sequences, with the
// attention computed by `attention` (null: the flash kernels on these tokens alone). A sequence
// cut into shards held by several processes trains with each shard's start and a runner that
// computes attention across the shards (sequence parallelism: every other layer is per-token).
struct SequenceShard {
  int64_t start = 0;
  nn::AttentionRunner* attention = nullptr;
};

class Gpt {
 public:
  Gpt(const GptConfig& config, uint64_t seed);

  // tokens [B·T] row-major, each in [0, vocab) → logits [B, T, V]. `step` selects dropout masks.
  // With `documents` (offsets [n + 1] from 0 to T), B = 1 and the tokens are n documents packed
  // end to end, each at most `context` long: positions restart at each document and attention
  // stays within it, so each document's logits are those it would get alone; T may then exceed
  // the context.
  Tensor forward(std::span<const int32_t> tokens, int64_t batch, int64_t len, bool training,
                 uint64_t step = 0, const SequenceShard& shard = {},
                 std::span<const int32_t> documents = {});
  // dlogits [B, T, V] of the last forward: accumulates the gradients of every parameter.
  void backward(const Tensor& dlogits);

  // Generation: one KV cache per layer for one sequence of up to `context` tokens.
  std::vector<std::unique_ptr<KvCache>> make_caches() const;
  // The next tokens of the sequence in `caches` (positions continue from the caches' length) →
  // logits [1, n, V]; their keys and values are appended to the caches.
  Tensor forward_cached(std::span<const int32_t> tokens,
                        std::vector<std::unique_ptr<KvCache>>& caches);

  std::vector<nn::Parameter> parameters();
  const GptConfig& config() const { return config_; }
  // Layer i of n_layers, e.g. to read its attention weights after a forward.
  nn::TransformerBlock& block(int64_t i) { return *blocks_.at(static_cast<size_t>(i)); }

 private:
  GptConfig config_;
  nn::Embedding tok_;
  nn::LearnedPositionalEmbedding pos_;
  std::vector<std::unique_ptr<nn::TransformerBlock>> blocks_;
  nn::Norm norm_;
  nn::Linear head_;
};

}  // namespace attn::model
