// Seq2Seq — an encoder–decoder transformer (pre-norm), e.g. letters of a word → its phonemes.
//
//   source [B, S] → src_emb + src_pos → encoder_layers × TransformerBlock (self-attention, not
//                   causal, source keys ≥ source_lengths[b] masked) → LayerNorm → memory [B, S, C]
//   target [B, T] → tgt_emb + tgt_pos → decoder_layers × DecoderBlock (causal self-attention,
//                   cross-attention to the memory with the same key padding, feed-forward)
//                 → LayerNorm → head (Linear, no bias) → logits [B, T, V]
//
// Training uses teacher forcing: the target input is BOS + phonemes, the expected output the
// phonemes + EOS. Generation feeds one token per step through per-layer KV caches: a self cache
// that grows by one token per step, and a memory cache holding the cross-attention keys and
// values of the encoder output, computed once per word.
// Parameters: "src_tok.weight", "src_pos.weight", "enc{i}.…", "enc_norm.…", "tgt_tok.weight",
// "tgt_pos.weight", "dec{i}.…", "dec_norm.…", "head.weight".
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/infer/kv_cache.h"
#include "attn/nn/decoder_block.h"
#include "attn/nn/embedding.h"
#include "attn/nn/learned_position.h"
#include "attn/nn/linear.h"
#include "attn/nn/norm.h"
#include "attn/nn/parameter.h"
#include "attn/nn/transformer_block.h"

namespace attn::model {

// The reserved target ids of every Seq2Seq model: generation starts from BOS and ends at EOS;
// the task's symbols start at kFirstSymbol.
struct TargetIds {
  static constexpr int32_t kPad = 0, kBos = 1, kEos = 2, kFirstSymbol = 3;
};

struct Seq2SeqConfig {
  int64_t source_vocab = 27;    // padding + 26 letters
  int64_t target_vocab = 42;    // padding, BOS, EOS + 39 phonemes
  int64_t max_source_len = 24;  // longest source (letters of a word)
  int64_t max_target_len = 24;  // decoder positions: at most max_target_len − 1 phonemes
  int64_t d_model = 128;        // C
  int64_t n_heads = 4;
  int64_t encoder_layers = 2;
  int64_t decoder_layers = 2;
  int64_t d_ff = 0;      // feed-forward width; 0 means 4·C
  float dropout = 0.0f;  // residual dropout while training

  std::string to_json() const;
  // Parses a JSON object with any of the fields above; throws attn::Error on unknown fields,
  // wrong types or impossible sizes.
  static Seq2SeqConfig from_json(const std::string& text);
};

// Throws attn::Error unless the sizes are positive and d_model is a multiple of n_heads.
void validate(const Seq2SeqConfig& c);

// A batch of sources padded to one length: ids [B, S] (0 after each length) and the lengths.
struct SourceBatch {
  std::vector<int32_t> ids;
  std::vector<int64_t> lengths;
  int64_t batch = 0, len = 0;
};
SourceBatch pack_sources(const std::vector<std::vector<int32_t>>& sources);

// The KV caches of generation for B sequences: per decoder layer, the self-attention keys and
// values of the tokens fed so far, and the cross-attention keys and values of the memory.
struct Seq2SeqCaches {
  std::vector<std::unique_ptr<KvCache>> self;
  std::vector<std::unique_ptr<KvCache>> memory;
  int64_t batch() const { return self.empty() ? 0 : self[0]->config().batch; }
  int64_t length() const { return self.empty() ? 0 : self[0]->length(0); }  // tokens fed
};

class Seq2Seq {
 public:
  Seq2Seq(const Seq2SeqConfig& config, uint64_t seed);

  // source [B·S] row-major ids, lengths [B] in [1, S] → memory [B, S, C].
  Tensor encode(const SourceBatch& source, bool training, uint64_t step = 0);
  // target [B·T] row-major ids (BOS first), memory of the last encode → logits [B, T, V].
  Tensor decode(std::span<const int32_t> target, int64_t batch, int64_t len, const Tensor& memory,
                std::span<const int64_t> source_lengths, bool training, uint64_t step = 0);
  // dlogits [B, T, V] of the last decode: accumulates the gradients of the decoder and, through
  // the memory, of the encoder.
  void backward(const Tensor& dlogits);

  // Generation: caches for memory.dim(0) sequences, their memory caches filled from `memory`.
  Seq2SeqCaches start(const Tensor& memory, std::span<const int64_t> source_lengths);
  // The next token of each sequence (tokens [B], all at position caches.length()) → logits
  // [B, 1, V]; their keys and values are appended to the self caches.
  Tensor step(std::span<const int32_t> tokens, Seq2SeqCaches& caches);

  // Cross-attention weights of decoder layer `layer` in the last decode: [B, Hq, T, S], or
  // [B, 1, T, S] averaged over the heads.
  Tensor cross_attention_weights(int64_t layer, bool average_heads);
  // Causal self-attention weights of decoder layer `layer` in the last decode: [B, Hq, T, T]
  // (or [B, 1, T, T]).
  Tensor decoder_attention_weights(int64_t layer, bool average_heads);
  // Self-attention weights of encoder layer `layer` in the last encode: [B, Hq, S, S] (or
  // [B, 1, S, S]). Each throws attn::Error for a layer outside the model.
  Tensor encoder_attention_weights(int64_t layer, bool average_heads);

  std::vector<nn::Parameter> parameters();
  const Seq2SeqConfig& config() const { return config_; }

 private:
  void check_tokens(std::span<const int32_t> ids, int64_t vocab, const char* what) const;

  Seq2SeqConfig config_;
  nn::Embedding src_tok_;
  nn::LearnedPositionalEmbedding src_pos_;
  std::vector<std::unique_ptr<nn::TransformerBlock>> encoder_;
  nn::Norm enc_norm_;
  nn::Embedding tgt_tok_;
  nn::LearnedPositionalEmbedding tgt_pos_;
  std::vector<std::unique_ptr<nn::DecoderBlock>> decoder_;
  nn::Norm dec_norm_;
  nn::Linear head_;
  std::vector<int64_t> source_lengths_;  // of the last decode
};

}  // namespace attn::model
