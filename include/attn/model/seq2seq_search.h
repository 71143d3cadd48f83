// Decoding a Seq2Seq model: greedy and beam search, both incremental (Seq2Seq::step with KV
// caches: the memory's cross-attention keys and values are computed once per source).
//
// Target ids follow TargetIds (attn/model/seq2seq.h): generation starts from BOS and ends at EOS or
// after max_target_len − 1 tokens; padding and BOS are never generated. The results exclude BOS and
// EOS.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "attn/model/seq2seq.h"

namespace attn::model {

// Greedy decoding of a batch of sources at once: the most likely token at every step. When
// `step_logits` is given, it receives per source the logits [V] of each step taken for it.
std::vector<std::vector<int32_t>> greedy_decode(
    Seq2Seq& model, const std::vector<std::vector<int32_t>>& sources,
    std::vector<std::vector<std::vector<float>>>* step_logits = nullptr);

// Beam search over one source with `beam` hypotheses (the beams run as one batch of the caches).
// At each step every live hypothesis is extended by its best tokens and the `beam` best of all
// extensions by total log-probability are kept; an extension ending in EOS is finished. The
// search stops when `beam` hypotheses have finished or the length limit is reached; the result
// is the finished hypothesis (or, if none, the live one) with the best length-normalised score,
// log P / (tokens including EOS). With beam = 1 this is greedy decoding.
std::vector<int32_t> beam_search(Seq2Seq& model, std::span<const int32_t> source, int64_t beam);

// Logits [V] for the token after `prefix` (BOS first), recomputing the whole prefix with
// Seq2Seq::decode: the reference for the incremental steps.
std::vector<float> logits_recompute(Seq2Seq& model, std::span<const int32_t> source,
                                    std::span<const int32_t> prefix);

}  // namespace attn::model
