#include "cli_kit.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <functional>
#include <optional>

namespace attn::cli {

namespace {

// The number in `text`, or nothing when it is not one (CLI11's conversion then reports it).
std::optional<double> number_in(const std::string& text) {
  double x = 0.0;
  if (!CLI::detail::lexical_cast(text, x)) return std::nullopt;
  return x;
}

// "1", "0.5", "1e+30": a bound as the user would type it.
std::string bound_text(double x) { return format("%g", x); }

// Adds a check to `option`: `ok` of the value, else UsageError "<option> must be <rule>, got
// <text>". The message is thrown here: CLI11 would prefix its own "<option>: " to a returned one.
CLI::Option* add_bound(CLI::Option* option, const std::string& rule,
                       std::function<bool(double)> ok) {
  const std::string name = option->get_name();
  auto check = [name, rule, ok](std::string& text) -> std::string {
    const std::optional<double> x = number_in(text);
    check_usage(!x || ok(*x), name, " must be ", rule, ", got ", text);
    return {};
  };
  return option->check(CLI::Validator(check, rule));
}

}  // namespace

CLI::Option* add_threads_option(CLI::App& cmd, int& threads) {
  threads = 0;
  return at_least(cmd.add_option("--threads", threads,
                                 "OpenMP threads (default: OMP_NUM_THREADS or every core)"),
                  1);
}

int use_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
  return omp_get_max_threads();
}

CLI::Option* add_json_flag(CLI::App& cmd, bool& json, const std::string& help) {
  return cmd.add_flag("--json", json, help);
}

CLI::Option* add_model_option(CLI::App& cmd, std::string& model, const std::string& help) {
  return cmd.add_option("--model", model, help)->required();
}

CLI::Option* add_out_option(CLI::App& cmd, std::string& out, const std::string& help, Need need) {
  return cmd.add_option("--out", out, help)->required(need == Need::kRequired);
}

CLI::Option* at_least(CLI::Option* option, double min) {
  return add_bound(option, "at least " + bound_text(min), [min](double x) { return x >= min; });
}

CLI::Option* in_range(CLI::Option* option, double min, double max) {
  return add_bound(option, "in [" + bound_text(min) + ", " + bound_text(max) + "]",
                   [min, max](double x) { return x >= min && x <= max; });
}

CLI::Option* probability(CLI::Option* option) {
  return add_bound(option, "in [0, 1)", [](double x) { return x >= 0.0 && x < 1.0; });
}

CLI::Option* finite(CLI::Option* option) {
  return add_bound(option, "a finite number", [](double x) { return std::isfinite(x); });
}

CLI::Option* one_of(CLI::Option* option, const std::vector<std::string>& names) {
  Choices<std::string> choices;
  for (const std::string& name : names) choices.emplace_back(name, name);
  const std::string option_name = option->get_name();
  auto check = [option_name, choices](std::string& text) -> std::string {
    text = parse_choice(option_name, choices, text);
    return {};
  };
  return option->check(CLI::Validator(check, choice_list(choices)));
}

void Reporter::result(const nlohmann::ordered_json& fields, const std::string& text) const {
  if (json_) return json_line(fields);
  text_line(text);
}

void Reporter::json_line(const nlohmann::ordered_json& fields) const {
  if (!json_) return;
  std::printf("%s\n", fields.dump().c_str());
  std::fflush(stdout);
}

void Reporter::text_line(const std::string& text) const {
  if (json_) return;
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

std::string format(const char* pattern, ...) {
  va_list args;
  va_start(args, pattern);
  va_list again;
  va_copy(again, args);
  const int size = std::vsnprintf(nullptr, 0, pattern, args);
  va_end(args);
  std::string text(static_cast<size_t>(std::max(size, 0)) + 1, '\0');
  std::vsnprintf(text.data(), text.size(), pattern, again);
  va_end(again);
  text.pop_back();
  return text;
}

void progress(const std::string& text) {
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace attn::cli
