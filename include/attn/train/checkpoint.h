// Training checkpoints: parameters, AdamW moments and the run's state in one safetensors file.
//
// Tensors: every parameter under its own name, and "adamw.m.<name>", "adamw.v.<name>". Metadata:
// "kind" (the model family, e.g. "gpt"), "config" (the model config as JSON), "adamw_steps", and
// whatever else the caller adds (the step, the seed, the training options). Written atomically.
#pragma once

#include <string>
#include <vector>

#include "attn/nn/parameter.h"
#include "attn/safetensors.h"
#include "attn/train/adamw.h"

namespace attn::train {

// Writes `params` (and the moments of `optimizer`, when given) with `metadata` to `path`.
void save_checkpoint(const std::string& path, const std::vector<nn::Parameter>& params,
                     AdamW* optimizer, Metadata metadata);

// Copies every parameter out of `file`, checking names and shapes; throws attn::Error naming
// the first missing or mis-shaped tensor.
void load_parameters(const SafetensorsFile& file, const std::vector<nn::Parameter>& params);

// Restores the optimizer's moments and step count from `file`.
void load_optimizer(const SafetensorsFile& file, AdamW& optimizer);

// Throws attn::Error unless the file's "kind" metadata is `kind` ("checkpoint X is a Y model").
void expect_kind(const SafetensorsFile& file, const std::string& kind, const std::string& path);

// Reads a checkpoint that must hold a `kind` model; a file that is no safetensors checkpoint at
// all is reported as such ("PATH is not a 'gpt' checkpoint: ..."), one of another kind as above.
SafetensorsFile read_checkpoint(const std::string& path, const std::string& kind);

}  // namespace attn::train
