#include "attn/train/checkpoint.h"

#include "attn/core/error.h"

namespace attn::train {

void save_checkpoint(const std::string& path, const std::vector<nn::Parameter>& params,
                     AdamW* optimizer, Metadata metadata) {
  std::vector<NamedTensor> moments;
  if (optimizer != nullptr) {
    const auto& opt_params = optimizer->parameters();
    for (size_t i = 0; i < opt_params.size(); ++i) {
      const nn::Parameter& p = opt_params[i];
      moments.push_back({"adamw.m." + p.name, p.shape, optimizer->first_moment(i).data()});
      moments.push_back({"adamw.v." + p.name, p.shape, optimizer->second_moment(i).data()});
    }
    metadata["adamw_steps"] = std::to_string(optimizer->steps());
  }
  save_parameters(path, params, metadata, std::move(moments));
}

void load_optimizer(const SafetensorsFile& file, AdamW& optimizer) {
  const auto& params = optimizer.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    file.read_into("adamw.m." + params[i].name, params[i].shape, optimizer.first_moment(i).data());
    file.read_into("adamw.v." + params[i].name, params[i].shape, optimizer.second_moment(i).data());
  }
  const std::string& steps = file.meta("adamw_steps");
  try {
    optimizer.set_steps(std::stoll(steps));
  } catch (const std::exception&) {
    detail::throw_error("checkpoint: adamw_steps '", steps, "' is not a number");
  }
}

}  // namespace attn::train
