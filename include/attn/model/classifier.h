// Classifier — a Transformer encoder over word tokens, pooled into one vector per sentence.
//
//   tokens [B, T], lengths [B]
//     → tok_emb + pos_emb → dropout → n_layers × TransformerBlock (pre-norm, non-causal,
//       keys t ≥ lengths[b] masked) → LayerNorm
//     → pooling over the real tokens: AttentionPooling or MeanPooling      [B, C]
//     → dropout → head (Linear)                                            → logits [B, K]
//
// forward keeps what backward needs; backward(dlogits) accumulates every parameter gradient.
// Parameters: "tok.weight", "pos.weight", "block{i}.…", "norm.…", "pool.…" (attention pooling
// only), "head.weight", "head.bias".
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/nn/attention_pooling.h"
#include "attn/nn/dropout.h"
#include "attn/nn/embedding.h"
#include "attn/nn/learned_position.h"
#include "attn/nn/linear.h"
#include "attn/nn/mean_pooling.h"
#include "attn/nn/norm.h"
#include "attn/nn/parameter.h"
#include "attn/nn/transformer_block.h"

namespace attn::model {

enum class Pooling { kAttention, kMean };

// "attention" | "mean"; parse_pooling throws attn::Error on anything else.
std::string pooling_name(Pooling p);
Pooling parse_pooling(const std::string& name);

struct ClassifierConfig {
  int64_t vocab_size = 2;  // word ids, <pad> and <unk> included
  int64_t max_len = 128;   // longest sentence T, in words
  int64_t d_model = 64;    // C
  int64_t n_layers = 1;
  int64_t n_heads = 4;
  int64_t d_ff = 128;     // feed-forward width; 0 means 4·C
  int64_t pool_dim = 64;  // A, the width of the attention pooling's scores
  int64_t n_classes = 2;  // K
  float dropout = 0.3f;   // on the embeddings, the residual branches and the pooled vector
  Pooling pooling = Pooling::kAttention;

  std::string to_json() const;
  // Parses a JSON object with any of the fields above; throws attn::Error on unknown fields,
  // wrong types or impossible sizes.
  static ClassifierConfig from_json(const std::string& text);
};

// Throws attn::Error unless the sizes are positive and d_model is a multiple of n_heads.
void validate(const ClassifierConfig& c);

class Classifier {
 public:
  Classifier(const ClassifierConfig& config, uint64_t seed);

  // tokens [B·T] row-major, ids in [0, vocab); lengths [B] in [1, T], T ≤ max_len
  // → logits [B, K]. `step` selects the dropout masks.
  Tensor forward(std::span<const int32_t> tokens, std::span<const int64_t> lengths, int64_t batch,
                 int64_t len, bool training, uint64_t step = 0);
  // dlogits [B, K] of the last forward: accumulates the gradients of every parameter.
  void backward(const Tensor& dlogits);

  // The pooling weights of the last forward, [B, T]: 0 on padding, each row summing to 1.
  const Tensor& pooling_weights() const;
  // Self-attention weights of block `layer` in the last forward: [B, H, T, T], or [B, 1, T, T]
  // averaged over the heads; throws attn::Error for a layer outside [0, n_layers).
  Tensor attention_weights(int64_t layer, bool average_heads);

  std::vector<nn::Parameter> parameters();
  const ClassifierConfig& config() const { return config_; }

 private:
  void check_inputs(std::span<const int32_t> tokens, std::span<const int64_t> lengths,
                    int64_t batch, int64_t len) const;

  ClassifierConfig config_;
  nn::Embedding tok_;
  nn::LearnedPositionalEmbedding pos_;
  nn::Dropout emb_drop_;
  std::vector<std::unique_ptr<nn::TransformerBlock>> blocks_;
  nn::Norm norm_;
  std::optional<nn::AttentionPooling> attention_pool_;
  nn::MeanPooling mean_pool_;
  nn::Dropout pool_drop_;
  nn::Linear head_;
};

}  // namespace attn::model
