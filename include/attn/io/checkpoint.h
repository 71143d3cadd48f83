// Model checkpoints: named parameters and metadata in one safetensors file.
//
// Tensors: every parameter under its own name, plus whatever extra tensors the caller adds (the
// training loop adds the optimizer's moments, attn/train/checkpoint.h). Metadata: "kind" (the
// model family, e.g. "gpt"), "config" (the model config as JSON) and whatever else the caller
// adds. Written atomically.
#pragma once

#include <string>
#include <vector>

#include "attn/io/safetensors.h"
#include "attn/nn/parameter.h"

namespace attn {

// Writes `params`, then `extra`, with `metadata` to `path` (atomically).
void save_parameters(const std::string& path, const std::vector<nn::Parameter>& params,
                     const Metadata& metadata, std::vector<NamedTensor> extra = {});

// Copies every parameter out of `file`, checking names and shapes; throws attn::Error naming
// the first missing or mis-shaped tensor.
void load_parameters(const SafetensorsFile& file, const std::vector<nn::Parameter>& params);

// Throws attn::Error unless the file's "kind" metadata is `kind` ("checkpoint X is a Y model").
void expect_kind(const SafetensorsFile& file, const std::string& kind, const std::string& path);

// Reads a checkpoint that must hold a `kind` model; a damaged file is reported by what is wrong
// ("PATH: corrupt safetensors header: ..."), one of another kind as above.
SafetensorsFile read_checkpoint(const std::string& path, const std::string& kind);

}  // namespace attn
