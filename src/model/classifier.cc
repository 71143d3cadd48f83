#include "attn/model/classifier.h"

#include <nlohmann/json.hpp>

#include "attn/core/config_fields.h"
#include "attn/core/error.h"
#include "attn/nn/random.h"

namespace attn::model {

std::string pooling_name(Pooling p) { return p == Pooling::kAttention ? "attention" : "mean"; }

Pooling parse_pooling(const std::string& name) {
  if (name == "attention") return Pooling::kAttention;
  if (name == "mean") return Pooling::kMean;
  detail::throw_error("pooling '", name, "' is not one of attention, mean");
}

namespace {

constexpr double kMaxSize = 1 << 20;
const ConfigField<ClassifierConfig> kClassifierFields[] = {
    {"vocab_size", &ClassifierConfig::vocab_size, 1, kMaxSize},
    {"max_len", &ClassifierConfig::max_len, 1, kMaxSize},
    {"d_model", &ClassifierConfig::d_model, 1, kMaxSize},
    {"n_layers", &ClassifierConfig::n_layers, 1, kMaxSize},
    {"n_heads", &ClassifierConfig::n_heads, 1, kMaxSize},
    {"d_ff", &ClassifierConfig::d_ff, 0, kMaxSize},
    {"pool_dim", &ClassifierConfig::pool_dim, 1, kMaxSize},
    {"n_classes", &ClassifierConfig::n_classes, 2, kMaxSize},
    {.name = "dropout",
     .member = &ClassifierConfig::dropout,
     .min = 0,
     .max = 1,
     .max_exclusive = true},
    {"pooling",
     TextMember<ClassifierConfig>{
         [](const ClassifierConfig& c) { return pooling_name(c.pooling); },
         [](ClassifierConfig& c, const std::string& name) { c.pooling = parse_pooling(name); }}},
};

}  // namespace

std::string ClassifierConfig::to_json() const { return config_to_json(*this, kClassifierFields); }

ClassifierConfig ClassifierConfig::from_json(const std::string& text) {
  const ClassifierConfig c =
      config_from_json(text, kClassifierFields, ClassifierConfig{}, "classifier config");
  validate(c);
  return c;
}

void validate(const ClassifierConfig& c) {
  check_config_ranges(c, kClassifierFields, "classifier config");
  ATTN_CHECK(c.d_model % c.n_heads == 0, "classifier config: d_model = ", c.d_model,
             " is not a multiple of n_heads = ", c.n_heads);
}

namespace {

nn::TransformerBlockConfig block_config(const ClassifierConfig& c, uint64_t seed) {
  return {.d_model = c.d_model,
          .n_heads = c.n_heads,
          .d_ff = c.d_ff,
          .pre_norm = true,
          .causal = false,
          .fused_qkv = true,
          .dropout = c.dropout,
          .seed = seed};
}

const ClassifierConfig& checked(const ClassifierConfig& c) {
  validate(c);
  return c;
}

}  // namespace

Classifier::Classifier(const ClassifierConfig& config, uint64_t seed)
    : config_(checked(config)),
      tok_(config.vocab_size, config.d_model, nn::derive_seed(seed, 1)),
      pos_(config.max_len, config.d_model, nn::derive_seed(seed, 2)),
      emb_drop_(config.dropout, nn::derive_seed(seed, 3)),
      norm_(nn::NormKind::kLayerNorm, config.d_model),
      pool_drop_(config.dropout, nn::derive_seed(seed, 5)),
      head_(config.d_model, config.n_classes, /*bias=*/true, nn::derive_seed(seed, 6)) {
  for (int64_t i = 0; i < config.n_layers; ++i) {
    blocks_.push_back(std::make_unique<nn::TransformerBlock>(
        block_config(config, nn::derive_seed(seed, 100 + static_cast<uint64_t>(i)))));
  }
  if (config.pooling == Pooling::kAttention) {
    attention_pool_.emplace(config.d_model, config.pool_dim, nn::derive_seed(seed, 4));
  }
}

void Classifier::check_inputs(std::span<const int32_t> tokens, std::span<const int64_t> lengths,
                              int64_t batch, int64_t len) const {
  ATTN_CHECK(len >= 1 && len <= config_.max_len, "classifier: sentence length ", len,
             " is outside [1, max_len = ", config_.max_len, "]");
  ATTN_CHECK(static_cast<int64_t>(tokens.size()) == batch * len, "classifier: ", tokens.size(),
             " tokens for batch ", batch, " × length ", len);
  ATTN_CHECK(static_cast<int64_t>(lengths.size()) == batch, "classifier: ", lengths.size(),
             " lengths for a batch of ", batch);
  for (int32_t t : tokens) {
    ATTN_CHECK(t >= 0 && t < config_.vocab_size, "classifier: token ", t,
               " is outside the vocabulary [0, ", config_.vocab_size, ")");
  }
}

Tensor Classifier::forward(std::span<const int32_t> tokens, std::span<const int64_t> lengths,
                           int64_t batch, int64_t len, bool training, uint64_t step) {
  check_inputs(tokens, lengths, batch, len);
  Tensor x = emb_drop_.forward(pos_.forward(tok_.forward(tokens, batch, len)), step, training);
  nn::BlockInputs inputs;
  inputs.key_lengths = lengths;
  inputs.training = training;
  inputs.step = step;
  for (auto& block : blocks_) x = block->forward(x, inputs);
  x = norm_.forward(x);
  Tensor pooled = attention_pool_ ? attention_pool_->forward(x, lengths)
                                  : mean_pool_.forward(x, lengths);  // [B, C]
  return head_.forward(pool_drop_.forward(pooled, step, training));
}

void Classifier::backward(const Tensor& dlogits) {
  const Tensor dpooled = pool_drop_.backward(head_.backward(dlogits));
  Tensor dx = attention_pool_ ? attention_pool_->backward(dpooled) : mean_pool_.backward(dpooled);
  dx = norm_.backward(dx);
  for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) dx = (*it)->backward(dx);
  tok_.backward(pos_.backward(emb_drop_.backward(dx)));
}

const Tensor& Classifier::pooling_weights() const {
  return attention_pool_ ? attention_pool_->weights() : mean_pool_.weights();
}

Tensor Classifier::attention_weights(int64_t layer, bool average_heads) {
  ATTN_CHECK(layer >= 0 && layer < static_cast<int64_t>(blocks_.size()), "classifier: layer ",
             layer, " outside [0, ", blocks_.size(), ")");
  return blocks_[layer]->attention().attention_weights(average_heads);
}

std::vector<nn::Parameter> Classifier::parameters() {
  std::vector<nn::Parameter> params;
  nn::append_parameters(params, "tok", tok_.parameters());
  nn::append_parameters(params, "pos", pos_.parameters());
  for (size_t i = 0; i < blocks_.size(); ++i) {
    nn::append_parameters(params, "block" + std::to_string(i), blocks_[i]->parameters());
  }
  nn::append_parameters(params, "norm", norm_.parameters());
  if (attention_pool_) nn::append_parameters(params, "pool", attention_pool_->parameters());
  nn::append_parameters(params, "head", head_.parameters());
  return params;
}

}  // namespace attn::model
