#include "attn/model/gpt.h"

#include <nlohmann/json.hpp>

#include "attn/core/config_fields.h"
#include "attn/core/error.h"
#include "attn/infer/cached_attention.h"
#include "attn/nn/random.h"

namespace attn::model {

namespace {

constexpr double kMaxSize = 1 << 20;
using GptField = ConfigField<GptConfig>;
const GptField kGptFields[] = {
    {"vocab_size", &GptConfig::vocab_size, 1, kMaxSize},
    {"context", &GptConfig::context, 1, kMaxSize},
    {"d_model", &GptConfig::d_model, 1, kMaxSize},
    {"n_layers", &GptConfig::n_layers, 1, kMaxSize},
    {"n_heads", &GptConfig::n_heads, 1, kMaxSize},
    {"d_ff", &GptConfig::d_ff, 0, kMaxSize},
    {.name = "dropout", .member = &GptConfig::dropout, .min = 0, .max = 1, .max_exclusive = true},
    // Written only when set, so configs without it read and write as before.
    {.name = "attn_dropout",
     .member = &GptConfig::attn_dropout,
     .min = 0,
     .max = 1,
     .write = ConfigWrite::kUnlessDefault,
     .max_exclusive = true},
};

}  // namespace

std::string GptConfig::to_json() const { return config_to_json(*this, kGptFields); }

GptConfig GptConfig::from_json(const std::string& text) {
  const GptConfig c = config_from_json(text, kGptFields, GptConfig{}, "model config");
  validate(c);
  return c;
}

void validate(const GptConfig& c) {
  check_config_ranges(c, kGptFields, "model config");
  ATTN_CHECK(c.d_model % c.n_heads == 0, "model config: d_model = ", c.d_model,
             " is not a multiple of n_heads = ", c.n_heads);
}

namespace {

nn::TransformerBlockConfig block_config(const GptConfig& c, uint64_t seed) {
  return {.d_model = c.d_model,
          .n_heads = c.n_heads,
          .d_ff = c.d_ff,
          .pre_norm = true,
          .causal = true,
          .fused_qkv = true,
          .dropout = c.dropout,
          .attention_dropout = c.attn_dropout,
          .seed = seed};
}

const GptConfig& checked(const GptConfig& c) {
  validate(c);
  return c;
}

}  // namespace

Gpt::Gpt(const GptConfig& config, uint64_t seed)
    : config_(checked(config)),
      tok_(config.vocab_size, config.d_model, nn::derive_seed(seed, 1)),
      pos_(config.context, config.d_model, nn::derive_seed(seed, 2)),
      norm_(nn::NormKind::kLayerNorm, config.d_model),
      head_(config.d_model, config.vocab_size, /*bias=*/false, nn::derive_seed(seed, 3), 0.02f) {
  for (int64_t i = 0; i < config.n_layers; ++i) {
    blocks_.push_back(std::make_unique<nn::TransformerBlock>(
        block_config(config, nn::derive_seed(seed, 100 + static_cast<uint64_t>(i)))));
  }
}

namespace {

// The position of each token of documents packed at `offsets` (from 0 to len): 0, 1, … within
// each document. Throws unless the offsets are in order and no document exceeds the context.
std::vector<int32_t> document_positions(std::span<const int32_t> offsets, int64_t len,
                                        int64_t context) {
  ATTN_CHECK(offsets.size() >= 2 && offsets.front() == 0 && offsets.back() == len,
             "gpt: document offsets must run from 0 to the length ", len);
  std::vector<int32_t> positions;
  positions.reserve(static_cast<size_t>(len));
  for (size_t d = 0; d + 1 < offsets.size(); ++d) {
    const int64_t n = offsets[d + 1] - offsets[d];
    ATTN_CHECK(n >= 0 && n <= context, "gpt: document ", d, " has ", n,
               " tokens, outside [0, context = ", context, "]");
    for (int32_t t = 0; t < n; ++t) positions.push_back(t);
  }
  return positions;
}

}  // namespace

Tensor Gpt::forward(std::span<const int32_t> tokens, int64_t batch, int64_t len, bool training,
                    uint64_t step, const SequenceShard& shard,
                    std::span<const int32_t> documents) {
  const bool packed = !documents.empty();
  ATTN_CHECK(!packed || batch == 1, "gpt: packed documents need a batch of one, got ", batch);
  ATTN_CHECK(!packed || (shard.start == 0 && shard.attention == nullptr),
             "gpt: packed documents are not taken with a sequence shard");
  ATTN_CHECK(len >= 1 && shard.start >= 0 && (packed || shard.start + len <= config_.context),
             "gpt: positions [", shard.start, ", ", shard.start + len,
             ") are outside [0, context = ", config_.context, ")");
  ATTN_CHECK(static_cast<int64_t>(tokens.size()) == batch * len, "gpt: ", tokens.size(),
             " tokens for batch ", batch, " × length ", len);
  for (int32_t t : tokens) {
    ATTN_CHECK(t >= 0 && t < config_.vocab_size, "gpt: token ", t,
               " is outside the vocabulary [0, ", config_.vocab_size, ")");
  }
  Tensor x = tok_.forward(tokens, batch, len);
  x = packed ? pos_.forward(x, document_positions(documents, len, config_.context))
             : pos_.forward(x, shard.start);
  nn::BlockInputs inputs;
  inputs.cu_seqlens = documents;
  inputs.training = training;
  inputs.step = step;
  inputs.attention = shard.attention;
  for (auto& block : blocks_) x = block->forward(x, inputs);
  return head_.forward(norm_.forward(x));
}

void Gpt::backward(const Tensor& dlogits) {
  Tensor dx = norm_.backward(head_.backward(dlogits));
  for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) dx = (*it)->backward(dx);
  tok_.backward(pos_.backward(dx));
}

std::vector<std::unique_ptr<KvCache>> Gpt::make_caches() const {
  KvCacheConfig c;
  c.kv_heads = config_.n_heads;
  c.head_dim = c.v_head_dim = config_.d_model / config_.n_heads;
  c.capacity = config_.context;
  std::vector<std::unique_ptr<KvCache>> caches;
  for (int64_t i = 0; i < config_.n_layers; ++i) caches.push_back(std::make_unique<KvCache>(c));
  return caches;
}

Tensor Gpt::forward_cached(std::span<const int32_t> tokens,
                           std::vector<std::unique_ptr<KvCache>>& caches) {
  ATTN_CHECK(caches.size() == blocks_.size(), "gpt: one KV cache per layer is needed");
  const int64_t n = static_cast<int64_t>(tokens.size()), start = caches[0]->length(0);
  ATTN_CHECK(n >= 1 && start + n <= config_.context, "gpt: ", start + n,
             " tokens exceed the context of ", config_.context);
  for (int32_t t : tokens) {
    ATTN_CHECK(t >= 0 && t < config_.vocab_size, "gpt: token ", t,
               " is outside the vocabulary [0, ", config_.vocab_size, ")");
  }
  Tensor x = pos_.forward(tok_.forward(tokens, 1, n), start);
  for (size_t i = 0; i < blocks_.size(); ++i)
    x = infer::block_forward_cached(*blocks_[i], x, *caches[i]);
  return head_.forward(norm_.forward(x));
}

std::vector<nn::Parameter> Gpt::parameters() {
  std::vector<nn::Parameter> params;
  nn::append_parameters(params, "tok", tok_.parameters());
  nn::append_parameters(params, "pos", pos_.parameters());
  for (size_t i = 0; i < blocks_.size(); ++i) {
    nn::append_parameters(params, "block" + std::to_string(i), blocks_[i]->parameters());
  }
  nn::append_parameters(params, "norm", norm_.parameters());
  nn::append_parameters(params, "head", head_.parameters());
  return params;
}

}  // namespace attn::model
