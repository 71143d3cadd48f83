#include "attn/model/seq2seq.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "attn/core/config_fields.h"
#include "attn/core/error.h"
#include "attn/infer/cached_attention.h"
#include "attn/nn/random.h"
#include "attn/nn/tensor_ops.h"

namespace attn::model {

namespace {

constexpr double kMaxSize = 1 << 16;
const ConfigField<Seq2SeqConfig> kSeq2SeqFields[] = {
    {"source_vocab", &Seq2SeqConfig::source_vocab, 1, kMaxSize},
    {"target_vocab", &Seq2SeqConfig::target_vocab, 1, kMaxSize},
    {"max_source_len", &Seq2SeqConfig::max_source_len, 1, kMaxSize},
    {"max_target_len", &Seq2SeqConfig::max_target_len, 1, kMaxSize},
    {"d_model", &Seq2SeqConfig::d_model, 1, kMaxSize},
    {"n_heads", &Seq2SeqConfig::n_heads, 1, kMaxSize},
    {"encoder_layers", &Seq2SeqConfig::encoder_layers, 1, kMaxSize},
    {"decoder_layers", &Seq2SeqConfig::decoder_layers, 1, kMaxSize},
    {"d_ff", &Seq2SeqConfig::d_ff, 0, kMaxSize},
    {.name = "dropout",
     .member = &Seq2SeqConfig::dropout,
     .min = 0,
     .max = 1,
     .max_exclusive = true},
};

}  // namespace

std::string Seq2SeqConfig::to_json() const { return config_to_json(*this, kSeq2SeqFields); }

Seq2SeqConfig Seq2SeqConfig::from_json(const std::string& text) {
  const Seq2SeqConfig c = config_from_json(text, kSeq2SeqFields, Seq2SeqConfig{}, "seq2seq config");
  validate(c);
  return c;
}

void validate(const Seq2SeqConfig& c) {
  check_config_ranges(c, kSeq2SeqFields, "seq2seq config");
  ATTN_CHECK(c.d_model % c.n_heads == 0, "seq2seq config: d_model = ", c.d_model,
             " is not a multiple of n_heads = ", c.n_heads);
}

SourceBatch pack_sources(const std::vector<std::vector<int32_t>>& sources) {
  SourceBatch s;
  s.batch = static_cast<int64_t>(sources.size());
  for (const auto& ids : sources)
    s.len = std::max<int64_t>(s.len, static_cast<int64_t>(ids.size()));
  s.ids.assign(static_cast<size_t>(s.batch * s.len), 0);
  for (int64_t b = 0; b < s.batch; ++b) {
    std::copy(sources[b].begin(), sources[b].end(), s.ids.begin() + b * s.len);
    s.lengths.push_back(static_cast<int64_t>(sources[b].size()));
  }
  return s;
}

namespace {

nn::TransformerBlockConfig encoder_config(const Seq2SeqConfig& c, uint64_t seed) {
  return {.d_model = c.d_model,
          .n_heads = c.n_heads,
          .d_ff = c.d_ff,
          .pre_norm = true,
          .causal = false,
          .fused_qkv = true,
          .dropout = c.dropout,
          .seed = seed};
}

nn::DecoderBlockConfig decoder_config(const Seq2SeqConfig& c, uint64_t seed) {
  return {.d_model = c.d_model,
          .n_heads = c.n_heads,
          .d_ff = c.d_ff,
          .dropout = c.dropout,
          .seed = seed};
}

const Seq2SeqConfig& checked(const Seq2SeqConfig& c) {
  validate(c);
  return c;
}

}  // namespace

Seq2Seq::Seq2Seq(const Seq2SeqConfig& config, uint64_t seed)
    : config_(checked(config)),
      src_tok_(config.source_vocab, config.d_model, nn::derive_seed(seed, 1)),
      src_pos_(config.max_source_len, config.d_model, nn::derive_seed(seed, 2)),
      enc_norm_(nn::NormKind::kLayerNorm, config.d_model),
      tgt_tok_(config.target_vocab, config.d_model, nn::derive_seed(seed, 3)),
      tgt_pos_(config.max_target_len, config.d_model, nn::derive_seed(seed, 4)),
      dec_norm_(nn::NormKind::kLayerNorm, config.d_model),
      head_(config.d_model, config.target_vocab, /*bias=*/false, nn::derive_seed(seed, 5), 0.02f) {
  for (int64_t i = 0; i < config.encoder_layers; ++i) {
    encoder_.push_back(std::make_unique<nn::TransformerBlock>(
        encoder_config(config, nn::derive_seed(seed, 100 + static_cast<uint64_t>(i)))));
  }
  for (int64_t i = 0; i < config.decoder_layers; ++i) {
    decoder_.push_back(std::make_unique<nn::DecoderBlock>(
        decoder_config(config, nn::derive_seed(seed, 200 + static_cast<uint64_t>(i)))));
  }
}

void Seq2Seq::check_tokens(std::span<const int32_t> ids, int64_t vocab, const char* what) const {
  for (int32_t t : ids) {
    ATTN_CHECK(t >= 0 && t < vocab, "seq2seq: ", what, " token ", t,
               " is outside the vocabulary [0, ", vocab, ")");
  }
}

Tensor Seq2Seq::encode(const SourceBatch& s, bool training, uint64_t step) {
  ATTN_CHECK(s.len >= 1 && s.len <= config_.max_source_len, "seq2seq: source length ", s.len,
             " is outside [1, ", config_.max_source_len, "]");
  ATTN_CHECK(static_cast<int64_t>(s.ids.size()) == s.batch * s.len &&
                 static_cast<int64_t>(s.lengths.size()) == s.batch,
             "seq2seq: ", s.ids.size(), " source tokens for batch ", s.batch, " × length ", s.len);
  check_tokens(s.ids, config_.source_vocab, "source");
  Tensor x = src_pos_.forward(src_tok_.forward(s.ids, s.batch, s.len));
  nn::BlockInputs inputs;
  inputs.key_lengths = s.lengths;
  inputs.training = training;
  inputs.step = step;
  for (auto& block : encoder_) x = block->forward(x, inputs);
  return enc_norm_.forward(x);
}

Tensor Seq2Seq::decode(std::span<const int32_t> target, int64_t batch, int64_t len,
                       const Tensor& memory, std::span<const int64_t> source_lengths, bool training,
                       uint64_t step) {
  ATTN_CHECK(len >= 1 && len <= config_.max_target_len, "seq2seq: target length ", len,
             " is outside [1, ", config_.max_target_len, "]");
  ATTN_CHECK(static_cast<int64_t>(target.size()) == batch * len, "seq2seq: ", target.size(),
             " target tokens for batch ", batch, " × length ", len);
  check_tokens(target, config_.target_vocab, "target");
  source_lengths_.assign(source_lengths.begin(), source_lengths.end());
  Tensor x = tgt_pos_.forward(tgt_tok_.forward(target, batch, len));
  nn::DecoderInputs inputs;
  inputs.memory = &memory;
  inputs.memory_lengths = source_lengths_;
  inputs.training = training;
  inputs.step = step;
  for (auto& block : decoder_) x = block->forward(x, inputs);
  return head_.forward(dec_norm_.forward(x));
}

void Seq2Seq::backward(const Tensor& dlogits) {
  Tensor dx = dec_norm_.backward(head_.backward(dlogits));
  Tensor dmemory;
  for (auto it = decoder_.rbegin(); it != decoder_.rend(); ++it) {
    Tensor dm;
    dx = (*it)->backward(dx, &dm);
    if (dmemory.size() == 0) {
      dmemory = std::move(dm);
    } else {
      nn::add_into(dmemory, dm);  // the memory feeds every decoder layer
    }
  }
  tgt_tok_.backward(tgt_pos_.backward(dx));
  Tensor de = enc_norm_.backward(dmemory);
  for (auto it = encoder_.rbegin(); it != encoder_.rend(); ++it) de = (*it)->backward(de);
  src_tok_.backward(src_pos_.backward(de));
}

Seq2SeqCaches Seq2Seq::start(const Tensor& memory, std::span<const int64_t> source_lengths) {
  ATTN_CHECK(memory.shape().size() == 3 && memory.dim(2) == config_.d_model,
             "seq2seq: expected a memory [B, S, ", config_.d_model, "]");
  KvCacheConfig c;
  c.batch = memory.dim(0);
  c.kv_heads = config_.n_heads;
  c.head_dim = c.v_head_dim = config_.d_model / config_.n_heads;
  Seq2SeqCaches caches;
  for (auto& block : decoder_) {
    c.capacity = config_.max_target_len;
    caches.self.push_back(std::make_unique<KvCache>(c));
    c.capacity = std::max<int64_t>(1, memory.dim(1));
    caches.memory.push_back(std::make_unique<KvCache>(c));
    infer::append_memory(block->cross_attention(), memory, source_lengths, *caches.memory.back());
  }
  return caches;
}

Tensor Seq2Seq::step(std::span<const int32_t> tokens, Seq2SeqCaches& caches) {
  ATTN_CHECK(caches.self.size() == decoder_.size(), "seq2seq: one KV cache per layer is needed");
  const int64_t batch = caches.batch(), start = caches.length();
  ATTN_CHECK(static_cast<int64_t>(tokens.size()) == batch, "seq2seq: ", tokens.size(),
             " tokens for ", batch, " sequences");
  ATTN_CHECK(start < config_.max_target_len, "seq2seq: the target already has ",
             config_.max_target_len, " tokens");
  for (int64_t b = 1; b < batch; ++b) {
    ATTN_CHECK(caches.self[0]->length(b) == start, "seq2seq: sequences of unequal lengths");
  }
  check_tokens(tokens, config_.target_vocab, "target");
  Tensor x = tgt_pos_.forward(tgt_tok_.forward(tokens, batch, 1), start);
  for (size_t i = 0; i < decoder_.size(); ++i) {
    x = infer::decoder_forward_cached(*decoder_[i], x, *caches.self[i], *caches.memory[i]);
  }
  return head_.forward(dec_norm_.forward(x));
}

Tensor Seq2Seq::cross_attention_weights(int64_t layer, bool average_heads) {
  ATTN_CHECK(layer >= 0 && layer < static_cast<int64_t>(decoder_.size()), "seq2seq: layer ", layer,
             " outside [0, ", decoder_.size(), ")");
  return decoder_[layer]->cross_attention().attention_weights(average_heads);
}

Tensor Seq2Seq::decoder_attention_weights(int64_t layer, bool average_heads) {
  ATTN_CHECK(layer >= 0 && layer < static_cast<int64_t>(decoder_.size()), "seq2seq: decoder layer ",
             layer, " outside [0, ", decoder_.size(), ")");
  return decoder_[layer]->self_attention().attention_weights(average_heads);
}

Tensor Seq2Seq::encoder_attention_weights(int64_t layer, bool average_heads) {
  ATTN_CHECK(layer >= 0 && layer < static_cast<int64_t>(encoder_.size()), "seq2seq: encoder layer ",
             layer, " outside [0, ", encoder_.size(), ")");
  return encoder_[layer]->attention().attention_weights(average_heads);
}

std::vector<nn::Parameter> Seq2Seq::parameters() {
  std::vector<nn::Parameter> params;
  nn::append_parameters(params, "src_tok", src_tok_.parameters());
  nn::append_parameters(params, "src_pos", src_pos_.parameters());
  for (size_t i = 0; i < encoder_.size(); ++i) {
    nn::append_parameters(params, "enc" + std::to_string(i), encoder_[i]->parameters());
  }
  nn::append_parameters(params, "enc_norm", enc_norm_.parameters());
  nn::append_parameters(params, "tgt_tok", tgt_tok_.parameters());
  nn::append_parameters(params, "tgt_pos", tgt_pos_.parameters());
  for (size_t i = 0; i < decoder_.size(); ++i) {
    nn::append_parameters(params, "dec" + std::to_string(i), decoder_[i]->parameters());
  }
  nn::append_parameters(params, "dec_norm", dec_norm_.parameters());
  nn::append_parameters(params, "head", head_.parameters());
  return params;
}

}  // namespace attn::model
