#include "apps/gpt/presets.h"

#include "attn/core/error.h"

namespace attn::apps {

namespace {

GptPreset make_default() {
  GptPreset p{"default", "the make-run demo: a few minutes on 2 cores", {}, {}};
  p.model.context = 128;
  p.model.d_model = 192;
  p.model.n_layers = 4;
  p.model.n_heads = 6;
  p.train.batch = 32;
  p.train.steps = 600;
  p.train.lr = 2e-3f;
  p.train.min_lr = 2e-4f;
  p.train.warmup = 40;
  p.train.eval_interval = 50;
  return p;
}

GptPreset make_bench() {
  GptPreset p{"bench", "4 layers, d_model 256, 4 heads, context 256, batch 16", {}, {}};
  p.model.context = 256;
  p.model.d_model = 256;
  p.model.n_layers = 4;
  p.model.n_heads = 4;
  p.train.batch = 16;
  p.train.steps = 20;
  p.train.lr = 3e-4f;
  p.train.warmup = 0;
  p.train.eval_interval = 1000000;
  return p;
}

GptPreset make_tiny() {
  GptPreset p{"tiny", "a few seconds, for tests", {}, {}};
  p.model.context = 32;
  p.model.d_model = 32;
  p.model.n_layers = 2;
  p.model.n_heads = 2;
  p.train.batch = 4;
  p.train.steps = 20;
  p.train.lr = 3e-3f;
  p.train.warmup = 2;
  p.train.eval_interval = 5;
  p.train.eval_batches = 2;
  return p;
}

}  // namespace

const std::vector<GptPreset>& gpt_presets() {
  static const std::vector<GptPreset> presets = {make_default(), make_bench(), make_tiny()};
  return presets;
}

const GptPreset& gpt_preset(const std::string& name) {
  std::string names;
  for (const GptPreset& p : gpt_presets()) {
    if (p.name == name) return p;
    names += (names.empty() ? "" : ", ") + p.name;
  }
  detail::throw_error("--preset: unknown preset '", name, "' (known: ", names, ")");
}

}  // namespace attn::apps
