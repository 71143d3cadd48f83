// Levenshtein edit distance between two token sequences: the fewest insertions, deletions and
// substitutions that turn one into the other.
#pragma once

#include <cstdint>
#include <span>

namespace attn::apps {

int64_t edit_distance(std::span<const int32_t> a, std::span<const int32_t> b);

}  // namespace attn::apps
