// Global-norm gradient clipping.
//
//   norm = √(Σ_params Σ_i g_i²)        if norm > max_norm:  g ← g · max_norm / norm
//
// The sum of squares runs in double over fixed chunks summed in order, so the norm is the same
// for any number of threads.
#pragma once

#include <vector>

#include "attn/nn/parameter.h"

namespace attn::train {

// The L2 norm of all the gradients together.
double global_grad_norm(const std::vector<nn::Parameter>& params);

// Scales every gradient by max_norm / norm when the global norm exceeds max_norm (> 0).
// Returns the norm before clipping.
double clip_grad_norm(const std::vector<nn::Parameter>& params, double max_norm);

}  // namespace attn::train
