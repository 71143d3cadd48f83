#include "attn/model/classifier.h"

#include <nlohmann/json.hpp>

#include "attn/core/error.h"
#include "attn/nn/random.h"

namespace attn::model {

std::string pooling_name(Pooling p) { return p == Pooling::kAttention ? "attention" : "mean"; }

Pooling parse_pooling(const std::string& name) {
  if (name == "attention") return Pooling::kAttention;
  if (name == "mean") return Pooling::kMean;
  detail::throw_error("pooling '", name, "' is not one of attention, mean");
}

std::string ClassifierConfig::to_json() const {
  const nlohmann::ordered_json j = {{"vocab_size", vocab_size}, {"max_len", max_len},
                                    {"d_model", d_model},       {"n_layers", n_layers},
                                    {"n_heads", n_heads},       {"d_ff", d_ff},
                                    {"pool_dim", pool_dim},     {"n_classes", n_classes},
                                    {"dropout", dropout},       {"pooling", pooling_name(pooling)}};
  return j.dump();
}

ClassifierConfig ClassifierConfig::from_json(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  ATTN_CHECK(j.is_object(), "classifier config: not a JSON object");
  ClassifierConfig c;
  for (const auto& [key, value] : j.items()) {
    if (key == "dropout") {
      ATTN_CHECK(value.is_number(), "classifier config: dropout must be a number");
      c.dropout = value.get<float>();
      continue;
    }
    if (key == "pooling") {
      ATTN_CHECK(value.is_string(), "classifier config: pooling must be a string");
      c.pooling = parse_pooling(value.get<std::string>());
      continue;
    }
    int64_t* field = key == "vocab_size"  ? &c.vocab_size
                     : key == "max_len"   ? &c.max_len
                     : key == "d_model"   ? &c.d_model
                     : key == "n_layers"  ? &c.n_layers
                     : key == "n_heads"   ? &c.n_heads
                     : key == "d_ff"      ? &c.d_ff
                     : key == "pool_dim"  ? &c.pool_dim
                     : key == "n_classes" ? &c.n_classes
                                          : nullptr;
    ATTN_CHECK(field != nullptr, "classifier config: unknown field '", key, "'");
    ATTN_CHECK(value.is_number_integer(), "classifier config: ", key, " must be an integer");
    *field = value.get<int64_t>();
  }
  validate(c);
  return c;
}

void validate(const ClassifierConfig& c) {
  const std::pair<const char*, int64_t> sizes[] = {
      {"vocab_size", c.vocab_size}, {"max_len", c.max_len}, {"d_model", c.d_model},
      {"n_layers", c.n_layers},     {"n_heads", c.n_heads}, {"pool_dim", c.pool_dim},
      {"n_classes", c.n_classes}};
  for (const auto& [name, value] : sizes) {
    ATTN_CHECK(value > 0 && value <= (int64_t{1} << 20), "classifier config: ", name, " = ", value,
               " is not a possible size");
  }
  ATTN_CHECK(c.n_classes >= 2, "classifier config: n_classes must be at least 2");
  ATTN_CHECK(c.d_ff >= 0 && c.d_ff <= (int64_t{1} << 20), "classifier config: d_ff = ", c.d_ff,
             " is not a possible size");
  ATTN_CHECK(c.d_model % c.n_heads == 0, "classifier config: d_model = ", c.d_model,
             " is not a multiple of n_heads = ", c.n_heads);
  ATTN_CHECK(c.dropout >= 0.0f && c.dropout < 1.0f, "classifier config: dropout = ", c.dropout,
             " is outside [0, 1)");
}

namespace {

nn::TransformerBlockConfig block_config(const ClassifierConfig& c, uint64_t seed) {
  nn::TransformerBlockConfig b;
  b.d_model = c.d_model;
  b.n_heads = c.n_heads;
  b.d_ff = c.d_ff;
  b.causal = false;
  b.pre_norm = true;
  b.fused_qkv = true;
  b.dropout = c.dropout;
  b.seed = seed;
  return b;
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
