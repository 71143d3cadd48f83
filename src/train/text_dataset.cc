#include "attn/train/text_dataset.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "attn/core/error.h"
#include "attn/nn/random.h"

namespace attn::train {

TextDataset::TextDataset(std::vector<int32_t> tokens, double val_fraction, int64_t min_len)
    : tokens_(std::move(tokens)) {
  ATTN_CHECK(val_fraction > 0.0 && val_fraction < 1.0, "dataset: validation fraction ",
             val_fraction, " is outside (0, 1)");
  const int64_t n = static_cast<int64_t>(tokens_.size());
  split_ = n - static_cast<int64_t>(static_cast<double>(n) * val_fraction);
  ATTN_CHECK(split_ > min_len && n - split_ > min_len, "dataset: the corpus has ", n,
             " bytes; each split needs more than ", min_len, " (one context window)");
}

TextDataset TextDataset::from_file(const std::string& path, double val_fraction, int64_t min_len) {
  std::ifstream in(path, std::ios::binary);
  ATTN_CHECK(in.good(), path, ": cannot open corpus: ", std::strerror(errno));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ATTN_CHECK(!bytes.empty(), path, ": the corpus is empty");
  std::vector<int32_t> tokens(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) tokens[i] = static_cast<unsigned char>(bytes[i]);
  try {
    return TextDataset(std::move(tokens), val_fraction, min_len);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

void TextDataset::window(int64_t start, int64_t len, int32_t* x, int32_t* y) const {
  for (int64_t t = 0; t < len; ++t) {
    x[t] = tokens_[start + t];
    y[t] = tokens_[start + t + 1];
  }
}

void TextDataset::train_batch(uint64_t seed, uint64_t step, int64_t batch, int64_t len, int32_t* x,
                              int32_t* y) const {
  const uint64_t starts = static_cast<uint64_t>(split_ - len);  // windows inside the train split
  for (int64_t b = 0; b < batch; ++b) {
    const uint64_t start = nn::counter_hash(seed, step, static_cast<uint64_t>(b)) % starts;
    window(static_cast<int64_t>(start), len, x + b * len, y + b * len);
  }
}

void TextDataset::train_documents(uint64_t seed, uint64_t step, int64_t batch, int64_t len,
                                  int32_t* x, int32_t* y, std::vector<int32_t>& offsets) const {
  const uint64_t starts = static_cast<uint64_t>(split_ - len);  // windows inside the train split
  const int64_t shortest = std::max<int64_t>(1, len / 8), total = batch * len;
  offsets.assign(1, 0);
  for (uint64_t k = 0; offsets.back() < total; ++k) {
    const uint64_t draw = nn::counter_hash(seed, step, 2 * k);
    const int64_t drawn = shortest + static_cast<int64_t>(draw % (len - shortest + 1));
    const int64_t n = std::min(drawn, total - offsets.back());
    const uint64_t start = nn::counter_hash(seed, step, 2 * k + 1) % starts;
    window(static_cast<int64_t>(start), n, x + offsets.back(), y + offsets.back());
    offsets.push_back(static_cast<int32_t>(offsets.back() + n));
  }
}

void TextDataset::val_batch(int64_t k, int64_t num_batches, int64_t batch, int64_t len, int32_t* x,
                            int32_t* y) const {
  const int64_t windows = num_batches * batch;
  const int64_t room = val_tokens() - len - 1;
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t w = k * batch + b;
    const int64_t start = split_ + (windows > 1 ? room * w / (windows - 1) : 0);
    window(start, len, x + b * len, y + b * len);
  }
}

}  // namespace attn::train
