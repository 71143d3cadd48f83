#include "attn/model/seq2seq_search.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "attn/core/error.h"

namespace attn::model {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// log-softmax of one row of logits, with padding and BOS (never generated) at −inf.
std::vector<float> log_probs(const float* logits, int64_t vocab) {
  float max = kNegInf;
  for (int64_t v = TargetIds::kEos; v < vocab; ++v) max = std::max(max, logits[v]);
  double sum = 0.0;
  for (int64_t v = TargetIds::kEos; v < vocab; ++v) sum += std::exp(double(logits[v] - max));
  const float lse = max + static_cast<float>(std::log(sum));
  std::vector<float> out(static_cast<size_t>(vocab), kNegInf);
  for (int64_t v = TargetIds::kEos; v < vocab; ++v) out[v] = logits[v] - lse;
  return out;
}

// The most likely generated token of one row (the first of equal ones).
int32_t best_token(const float* logits, int64_t vocab) {
  int32_t best = TargetIds::kEos;
  for (int64_t v = TargetIds::kEos + 1; v < vocab; ++v) {
    if (logits[v] > logits[best]) best = static_cast<int32_t>(v);
  }
  return best;
}

// Makes sequence b of every self cache a copy of sequence parents[b] (the beams' new order).
void reorder(Seq2SeqCaches& caches, std::span<const int64_t> parents) {
  for (auto& cache : caches.self) {
    const KvCacheConfig& c = cache->config();
    const int64_t len = cache->length(0), heads = c.kv_heads;
    std::vector<std::vector<float>> k(parents.size()), v(parents.size());
    for (size_t b = 0; b < parents.size(); ++b) {
      k[b].resize(static_cast<size_t>(len * heads * c.head_dim));
      v[b].resize(static_cast<size_t>(len * heads * c.v_head_dim));
      for (int64_t t = 0; t < len; ++t) {
        for (int64_t h = 0; h < heads; ++h) {
          cache->read(parents[b], t, h, &k[b][(t * heads + h) * c.head_dim],
                      &v[b][(t * heads + h) * c.v_head_dim]);
        }
      }
    }
    for (size_t b = 0; b < parents.size(); ++b) {
      cache->reset(static_cast<int64_t>(b));
      cache->append(static_cast<int64_t>(b), len, k[b].data(), v[b].data());
    }
  }
}

struct Hypothesis {
  std::vector<int32_t> tokens;  // generated so far, without BOS (and EOS once finished)
  float log_prob = 0.0f;
  float score() const { return log_prob / static_cast<float>(std::max<size_t>(1, tokens.size())); }
};

struct Candidate {
  float log_prob;
  int64_t beam;
  int32_t token;
};

// The `count` best extensions of the live beams, best first (ties: lower beam, lower token).
std::vector<Candidate> best_extensions(const Tensor& logits, const std::vector<Hypothesis>& live,
                                       int64_t count) {
  const int64_t vocab = logits.dim(2);
  std::vector<Candidate> all;
  for (size_t b = 0; b < live.size(); ++b) {
    if (live[b].log_prob == kNegInf) continue;
    const std::vector<float> lp = log_probs(logits.data() + b * vocab, vocab);
    for (int64_t v = TargetIds::kEos; v < vocab; ++v) {
      all.push_back({live[b].log_prob + lp[v], static_cast<int64_t>(b), static_cast<int32_t>(v)});
    }
  }
  const auto better = [](const Candidate& a, const Candidate& b) {
    if (a.log_prob != b.log_prob) return a.log_prob > b.log_prob;
    return a.beam != b.beam ? a.beam < b.beam : a.token < b.token;
  };
  const size_t n = std::min(all.size(), static_cast<size_t>(count));
  std::partial_sort(all.begin(), all.begin() + n, all.end(), better);
  all.resize(n);
  return all;
}

const Hypothesis& best_of(const std::vector<Hypothesis>& hyps) {
  size_t best = 0;
  for (size_t i = 1; i < hyps.size(); ++i) {
    if (hyps[i].score() > hyps[best].score()) best = i;
  }
  return hyps[best];
}

}  // namespace

std::vector<std::vector<int32_t>> greedy_decode(
    Seq2Seq& model, const std::vector<std::vector<int32_t>>& sources,
    std::vector<std::vector<std::vector<float>>>* step_logits) {
  const SourceBatch s = pack_sources(sources);
  const Tensor memory = model.encode(s, /*training=*/false);
  Seq2SeqCaches caches = model.start(memory, s.lengths);
  const int64_t batch = s.batch, vocab = model.config().target_vocab;
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(batch));
  if (step_logits) step_logits->assign(static_cast<size_t>(batch), {});
  std::vector<int32_t> tokens(static_cast<size_t>(batch), TargetIds::kBos);
  std::vector<bool> done(static_cast<size_t>(batch), false);
  for (int64_t t = 0; t + 1 < model.config().max_target_len; ++t) {
    const Tensor logits = model.step(tokens, caches);  // [B, 1, V]
    bool all_done = true;
    for (int64_t b = 0; b < batch; ++b) {
      if (done[b]) continue;
      const float* row = logits.data() + b * vocab;
      if (step_logits) (*step_logits)[b].emplace_back(row, row + vocab);
      tokens[b] = best_token(row, vocab);
      done[b] = tokens[b] == TargetIds::kEos;
      if (!done[b]) out[b].push_back(tokens[b]);
      all_done = all_done && done[b];
    }
    if (all_done) break;
  }
  return out;
}

std::vector<int32_t> beam_search(Seq2Seq& model, std::span<const int32_t> source, int64_t beam) {
  ATTN_CHECK(beam >= 1 && beam <= 64, "beam width ", beam, " is outside [1, 64]");
  const std::vector<std::vector<int32_t>> sources(static_cast<size_t>(beam),
                                                  {source.begin(), source.end()});
  const SourceBatch s = pack_sources(sources);
  const Tensor memory = model.encode(s, /*training=*/false);
  Seq2SeqCaches caches = model.start(memory, s.lengths);
  // One real hypothesis at first; the other beams are placeholders that are never extended.
  std::vector<Hypothesis> live(static_cast<size_t>(beam), Hypothesis{{}, kNegInf});
  live[0].log_prob = 0.0f;
  std::vector<Hypothesis> finished;
  std::vector<int32_t> tokens(static_cast<size_t>(beam), TargetIds::kBos);
  for (int64_t t = 0; t + 1 < model.config().max_target_len; ++t) {
    const Tensor logits = model.step(tokens, caches);  // [beam, 1, V]
    std::vector<Hypothesis> next;
    std::vector<int64_t> parents;
    for (const Candidate& c : best_extensions(logits, live, 2 * beam)) {
      if (static_cast<int64_t>(next.size()) == beam) break;
      Hypothesis h = live[c.beam];
      h.tokens.push_back(c.token);
      h.log_prob = c.log_prob;
      if (c.token == TargetIds::kEos) {
        finished.push_back(std::move(h));
      } else {
        next.push_back(std::move(h));
        parents.push_back(c.beam);
      }
    }
    if (static_cast<int64_t>(finished.size()) >= beam || next.empty()) break;
    while (static_cast<int64_t>(next.size()) < beam) {  // keep the batch full with placeholders
      next.push_back(Hypothesis{{}, kNegInf});
      parents.push_back(parents.front());
    }
    live = std::move(next);
    for (int64_t b = 0; b < beam; ++b)
      tokens[b] = live[b].tokens.empty() ? 0 : live[b].tokens.back();
    if (t + 2 < model.config().max_target_len) reorder(caches, parents);
  }
  std::vector<Hypothesis> pool = finished;
  if (pool.empty()) {
    for (const Hypothesis& h : live) {
      if (h.log_prob != kNegInf) pool.push_back(h);
    }
  }
  std::vector<int32_t> result = best_of(pool).tokens;
  if (!result.empty() && result.back() == TargetIds::kEos) result.pop_back();
  return result;
}

std::vector<float> logits_recompute(Seq2Seq& model, std::span<const int32_t> source,
                                    std::span<const int32_t> prefix) {
  const SourceBatch s = pack_sources({{source.begin(), source.end()}});
  const Tensor memory = model.encode(s, /*training=*/false);
  const int64_t len = static_cast<int64_t>(prefix.size()), vocab = model.config().target_vocab;
  const Tensor logits = model.decode(prefix, 1, len, memory, s.lengths, /*training=*/false);
  const float* last = logits.data() + (len - 1) * vocab;
  return std::vector<float>(last, last + vocab);
}

}  // namespace attn::model
