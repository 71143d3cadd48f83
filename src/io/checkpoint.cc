#include "attn/io/checkpoint.h"

#include "attn/core/error.h"

namespace attn {

void save_parameters(const std::string& path, const std::vector<nn::Parameter>& params,
                     const Metadata& metadata, std::vector<NamedTensor> extra) {
  std::vector<NamedTensor> tensors;
  for (const nn::Parameter& p : params) tensors.push_back({p.name, p.shape, p.value});
  tensors.insert(tensors.end(), extra.begin(), extra.end());
  write_safetensors(path, tensors, metadata);
}

void load_parameters(const SafetensorsFile& file, const std::vector<nn::Parameter>& params) {
  for (const nn::Parameter& p : params) file.read_into(p.name, p.shape, p.value);
}

void expect_kind(const SafetensorsFile& file, const std::string& kind, const std::string& path) {
  const auto it = file.metadata().find("kind");
  const std::string found = it == file.metadata().end() ? "unknown" : it->second;
  ATTN_CHECK(found == kind, path, ": checkpoint holds a '", found, "' model, not a '", kind,
             "' model");
}

SafetensorsFile read_checkpoint(const std::string& path, const std::string& kind) {
  // Its errors name the path and the problem (a corrupt header as such), not the kind expected.
  SafetensorsFile file = SafetensorsFile::read(path);
  expect_kind(file, kind, path);
  return file;
}

}  // namespace attn
