// Training checkpoints: a model checkpoint (attn/io/checkpoint.h) plus the AdamW moments
// ("adamw.m.<name>", "adamw.v.<name>") and "adamw_steps", so that a run resumes bit-exactly.
// The run's own state (step, seed, options) goes in the metadata. Written atomically.
#pragma once

#include <string>
#include <vector>

#include "attn/io/checkpoint.h"
#include "attn/nn/parameter.h"
#include "attn/train/adamw.h"

namespace attn::train {

// Writes `params` (and the moments of `optimizer`, when given) with `metadata` to `path`.
void save_checkpoint(const std::string& path, const std::vector<nn::Parameter>& params,
                     AdamW* optimizer, Metadata metadata);

// Restores the optimizer's moments and step count from `file`.
void load_optimizer(const SafetensorsFile& file, AdamW& optimizer);

}  // namespace attn::train
