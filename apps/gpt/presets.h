// Named GPT training set-ups for `attn train --preset NAME`.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "attn/model/gpt.h"
#include "attn/train/train_options.h"

namespace attn::apps {

struct GptPreset {
  std::string name;
  std::string description;
  model::GptConfig model;
  train::TrainOptions train;
};

// Every preset: "default" (the `make run` demo), "bench" (the configuration compared with
// PyTorch), "tiny" (seconds; for tests).
const std::vector<GptPreset>& gpt_presets();

// The preset called `name`; throws attn::Error listing the names otherwise.
const GptPreset& gpt_preset(const std::string& name);

}  // namespace attn::apps
