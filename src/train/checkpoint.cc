#include "attn/train/checkpoint.h"

#include <optional>

#include "attn/error.h"

namespace attn::train {

void save_checkpoint(const std::string& path, const std::vector<nn::Parameter>& params,
                     AdamW* optimizer, Metadata metadata) {
  std::vector<NamedTensor> tensors;
  for (const nn::Parameter& p : params) tensors.push_back({p.name, p.shape, p.value});
  if (optimizer != nullptr) {
    const auto& opt_params = optimizer->parameters();
    for (size_t i = 0; i < opt_params.size(); ++i) {
      const nn::Parameter& p = opt_params[i];
      tensors.push_back({"adamw.m." + p.name, p.shape, optimizer->first_moment(i).data()});
      tensors.push_back({"adamw.v." + p.name, p.shape, optimizer->second_moment(i).data()});
    }
    metadata["adamw_steps"] = std::to_string(optimizer->steps());
  }
  write_safetensors(path, tensors, metadata);
}

void load_parameters(const SafetensorsFile& file, const std::vector<nn::Parameter>& params) {
  for (const nn::Parameter& p : params) file.read_into(p.name, p.shape, p.value);
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

void expect_kind(const SafetensorsFile& file, const std::string& kind, const std::string& path) {
  const auto it = file.metadata().find("kind");
  const std::string found = it == file.metadata().end() ? "unknown" : it->second;
  ATTN_CHECK(found == kind, path, ": checkpoint holds a '", found, "' model, not a '", kind,
             "' model");
}

SafetensorsFile read_checkpoint(const std::string& path, const std::string& kind) {
  std::optional<SafetensorsFile> file;
  try {
    file.emplace(SafetensorsFile::read(path));
  } catch (const Error& e) {
    throw Error(path + " is not a '" + kind + "' checkpoint: " + e.what());
  }
  expect_kind(*file, kind, path);
  return std::move(*file);
}

}  // namespace attn::train
