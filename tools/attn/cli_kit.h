// The pieces every command of the attn tool shares: the common options (one declaration each,
// one default each), bounds and choices whose messages name the option, and one reporter for
// "a JSON line or a line of text".
//
// Conventions: results go to stdout, progress (bars, rates, notes) to stderr. A mistake in the
// command line (a CLI11 parse error, a value out of bounds, options that do not go together)
// exits with status 2; any other failure (bad files, shapes, models) with status 1.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "attn/core/element_type.h"

namespace attn::cli {

// Exit statuses of the tool.
inline constexpr int kExitFailure = 1;  // bad input files, shapes, models
inline constexpr int kExitUsage = 2;    // bad command line

// A mistake in the command line; `attn` prints its message and exits with kExitUsage.
class UsageError : public CLI::ParseError {
 public:
  explicit UsageError(std::string message)
      : CLI::ParseError("UsageError", std::move(message), kExitUsage) {}
};

// Throws UsageError built from `parts` unless `ok`: check_usage(n > 0, "--steps must be ...").
template <typename... Parts>
void check_usage(bool ok, const Parts&... parts) {
  if (ok) return;
  std::ostringstream message;
  (message << ... << parts);
  throw UsageError(message.str());
}

// ---------------------------------------------------------------- the shared options

// Whether an option must be given.
enum class Need { kRequired, kOptional };

// --threads: OpenMP threads; the one default of every command is 0, "OMP_NUM_THREADS or every
// core". Apply it with use_threads before computing.
CLI::Option* add_threads_option(CLI::App& cmd, int& threads);

// Sets OpenMP's thread count from --threads (0 leaves it) and returns the count in effect.
int use_threads(int threads);

// --json: results as JSON lines instead of text.
CLI::Option* add_json_flag(CLI::App& cmd, bool& json, const std::string& help);

// --seed: the seed of everything random the command does.
template <typename Seed>
CLI::Option* add_seed_option(CLI::App& cmd, Seed& seed, const std::string& help) {
  return cmd.add_option("--seed", seed, help);
}

// --model: the checkpoint a command reads.
CLI::Option* add_model_option(CLI::App& cmd, std::string& model, const std::string& help);

// --out: the file a command writes.
CLI::Option* add_out_option(CLI::App& cmd, std::string& out, const std::string& help,
                            Need need = Need::kRequired);

// ---------------------------------------------------------------- bounds

// Each adds a check to `option` whose message names it, e.g. "--batch must be at least 1, got
// 0", and returns the option. Values that are not numbers are left to CLI11's conversion error.
CLI::Option* at_least(CLI::Option* option, double min);
CLI::Option* in_range(CLI::Option* option, double min, double max);  // [min, max]
CLI::Option* probability(CLI::Option* option);                       // [0, 1)
CLI::Option* finite(CLI::Option* option);

// ---------------------------------------------------------------- choices

// The names of an option's values, e.g. {{"f32", KvDtype::kF32}, {"q8", KvDtype::kQ8}}.
template <typename T>
using Choices = std::vector<std::pair<std::string, T>>;

// --dtype of attn sdpa and attn bench: the names of element_type_name.
inline const Choices<ElementType> kElementTypes = {
    {"f32", ElementType::kF32}, {"bf16", ElementType::kBF16}, {"f16", ElementType::kF16}};

// "a | b | c".
template <typename T>
std::string choice_list(const Choices<T>& choices) {
  std::string list;
  for (const auto& [name, value] : choices) list += (list.empty() ? "" : " | ") + name;
  return list;
}

// The value named `text` (any case); UsageError "--kv-dtype must be one of f32 | q8, got 'x'".
template <typename T>
T parse_choice(std::string_view option, const Choices<T>& choices, std::string_view text) {
  for (const auto& [name, value] : choices) {
    if (CLI::detail::to_lower(std::string(text)) == CLI::detail::to_lower(name)) return value;
  }
  throw UsageError(std::string(option) + " must be one of " + choice_list(choices) + ", got '" +
                   std::string(text) + "'");
}

// The name of `value` in `choices`, "?" if it has none.
template <typename T>
std::string choice_name(const Choices<T>& choices, T value) {
  for (const auto& [name, v] : choices) {
    if (v == value) return name;
  }
  return "?";
}

// An option whose value is one of `choices`, stored in `value` when given; the help lists them.
template <typename T>
CLI::Option* add_choice_option(CLI::App& cmd, const std::string& name, T& value,
                               const Choices<T>& choices, const std::string& help) {
  return cmd.add_option_function<std::string>(
      name,
      [name, &value, choices](const std::string& text) {
        value = parse_choice(name, choices, text);
      },
      help + " (" + choice_list(choices) + ")");
}

// A string option limited to `names`; the help lists them.
CLI::Option* one_of(CLI::Option* option, const std::vector<std::string>& names);

// One result of a command: a JSON object on one line (--json), or a line of text; on stdout,
// flushed at once.
class Reporter {
 public:
  explicit Reporter(bool json) : json_(json) {}
  bool json() const { return json_; }

  // Prints `fields` as a JSON line, or `text` plus a newline.
  void result(const nlohmann::ordered_json& fields, const std::string& text) const;
  // Prints `fields` as a JSON line with --json, nothing otherwise (text results have their own).
  void json_line(const nlohmann::ordered_json& fields) const;
  // Prints `text` plus a newline without --json.
  void text_line(const std::string& text) const;

 private:
  bool json_;
};

// printf into a std::string.
std::string format(const char* pattern, ...) __attribute__((format(printf, 1, 2)));

// A line of progress on stderr (never stdout, which holds the results).
void progress(const std::string& text);

}  // namespace attn::cli
