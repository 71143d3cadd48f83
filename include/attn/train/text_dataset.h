// TextDataset — a byte corpus split into training and validation text, and deterministic batches.
//
// The first (1 − val_fraction) of the bytes train, the rest validate. A training batch is a pure
// function of (seed, step): B windows of T + 1 bytes at offsets drawn from a counter-based hash,
// so a run resumed at step N sees exactly the batches of an uninterrupted run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attn::train {

class TextDataset {
 public:
  // tokens: the corpus as byte tokens. Throws attn::Error if either split is shorter than
  // min_len + 1 tokens.
  TextDataset(std::vector<int32_t> tokens, double val_fraction, int64_t min_len);
  // Reads the corpus file; throws attn::Error naming the file if it is missing or too short.
  static TextDataset from_file(const std::string& path, double val_fraction, int64_t min_len);

  // Training batch of `step`: inputs x [batch, len] and next-byte targets y [batch, len].
  void train_batch(uint64_t seed, uint64_t step, int64_t batch, int64_t len, int32_t* x,
                   int32_t* y) const;
  // Training batch of `step` as documents packed end to end (Gpt::forward's `documents`):
  // batch·len tokens in documents of lengths drawn in [len/8, len] (the last one cut to fit),
  // each a window at its own offset; x and y [batch·len], the documents' offsets [n + 1].
  void train_documents(uint64_t seed, uint64_t step, int64_t batch, int64_t len, int32_t* x,
                       int32_t* y, std::vector<int32_t>& offsets) const;
  // Validation batch k of a fixed, evenly spaced set: the same windows on every call.
  void val_batch(int64_t k, int64_t num_batches, int64_t batch, int64_t len, int32_t* x,
                 int32_t* y) const;

  int64_t train_tokens() const { return split_; }
  int64_t val_tokens() const { return static_cast<int64_t>(tokens_.size()) - split_; }

 private:
  void window(int64_t start, int64_t len, int32_t* x, int32_t* y) const;

  std::vector<int32_t> tokens_;
  int64_t split_ = 0;  // first validation token
};

}  // namespace attn::train
