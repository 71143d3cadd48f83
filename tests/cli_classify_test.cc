// End-to-end tests of `attn classify` and `attn viz classify`: a short training run whose
// checkpoint eval, predict and viz read, and every bad input.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli_test_util.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace attn::cli_testing {
namespace {

class CliClassifyTest : public CliTest {
 protected:
  // A small data folder: 10 sentences per label in each source file.
  std::string tiny_data() {
    const std::string dir = file("data");
    std::filesystem::create_directories(dir);
    for (const char* source : {"imdb", "amazon", "yelp"}) {
      std::ofstream out(dir + "/" + source + ".tsv");
      for (int i = 0; i < 10; ++i) {
        out << "1\tA good " << source << " thing, " << i << " times great!\n";
        out << "0\tA bad " << source << " thing, " << i << " times awful.\n";
      }
    }
    return dir;
  }

  // Trains a few steps on the tiny data; returns " --model PATH".
  std::string tiny_model(const std::string& pooling = "attention") {
    const std::string path = file(pooling + ".safetensors");
    const CliRun r = run("classify train --steps 2 --pooling " + pooling + " --data " +
                         tiny_data() + " --out " + path);
    EXPECT_EQ(r.status, 0) << r.err;
    return " --model " + path;
  }

  // Expects `args` to fail with `status` (1: bad input, 2: bad command line) and one error line
  // that contains `needle`.
  void expect_error(const std::string& args, const std::string& needle, int status = kExitFailure) {
    const CliRun r = run(args);
    EXPECT_EQ(r.status, status) << args;
    EXPECT_TRUE(is_one_error_line(r.err)) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\n" << r.err;
  }
};

std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

TEST_F(CliClassifyTest, TrainWritesACheckpointThatEvalPredictAndVizRead) {
  const std::string model = file("c.safetensors");
  const CliRun r = run("classify train --steps 3 --json --threads 1 --out " + model);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<nlohmann::json> lines = json_lines(r.out);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines.front()["epoch"], 1);
  EXPECT_EQ(lines.front()["step"], 3);
  const nlohmann::json& last = lines.back();
  EXPECT_EQ(last["sentences"], 600);
  EXPECT_EQ(last["pooling"], "attention");
  const double accuracy = last["accuracy"];
  EXPECT_GE(accuracy, 0.0);
  EXPECT_LE(accuracy, 1.0);

  const CliRun eval = run("classify eval --json --model " + model);
  ASSERT_EQ(eval.status, 0) << eval.err;
  EXPECT_EQ(nlohmann::json::parse(eval.out)["accuracy"], accuracy);

  const CliRun predict = run("classify predict --model " + model + " --text 'A GREAT movie!'");
  ASSERT_EQ(predict.status, 0) << predict.err;
  std::istringstream out(predict.out);
  std::string label, word;
  double probability = 0, weight = 0, total = 0;
  out >> label >> probability;
  EXPECT_TRUE(label == "positive" || label == "negative") << predict.out;
  EXPECT_GE(probability, 0.5);
  std::vector<std::string> words;
  while (out >> word >> weight) words.push_back(word), total += weight;
  EXPECT_EQ(words, (std::vector<std::string>{"a", "great", "movie", "!"}));
  EXPECT_NEAR(total, 1.0, 1e-3);

  const CliRun viz =
      run("viz classify --model " + model + " --text 'A great movie' --out " + file("w.png"));
  ASSERT_EQ(viz.status, 0) << viz.err;
  EXPECT_GT(std::filesystem::file_size(file("w.png")), 1000u);
  const CliRun page =
      run("viz classify --model " + model + " --text 'A great movie' --html " + file("w.html"));
  ASSERT_EQ(page.status, 0) << page.err;
  const std::string html = attn::testing::read_file(file("w.html"));
  EXPECT_NE(html.find("\"name\":\"pooling\""), std::string::npos);
  EXPECT_NE(html.find("\"name\":\"self-attention\""), std::string::npos);
  EXPECT_NE(html.find("\"keys\":[\"a\",\"great\",\"movie\"]"), std::string::npos);
}

TEST_F(CliClassifyTest, MeanPoolingWeighsEveryWordEqually) {
  const CliRun r = run("classify predict --json" + tiny_model("mean") + " --text 'good bad thing'");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["weights"].size(), 3u);
  for (const auto& w : j["weights"]) EXPECT_NEAR(w.get<double>(), 1.0 / 3.0, 1e-6);
}

TEST_F(CliClassifyTest, UnknownWordsAreFine) {
  EXPECT_EQ(run("classify predict" + tiny_model() + " --text 'zyzzyva quux'").status, 0);
}

TEST_F(CliClassifyTest, BadSentencesAreRejected) {
  const std::string model = tiny_model();
  std::string long_text;
  for (int i = 0; i < 129; ++i) long_text += "word ";
  expect_error("classify predict" + model + " --text ''", "empty");
  expect_error("classify predict" + model + " --text '  \t '", "empty");
  expect_error("classify predict" + model + " --text '" + long_text + "'", "at most 128");
  expect_error("classify predict" + model + " --text \"$(printf 'a\\007b')\"", "control");
  expect_error("classify predict" + model + " --text \"$(printf 'bad \\377')\"", "UTF-8");
  expect_error("viz classify" + model + " --text '' --out " + file("x.png"), "empty");
  EXPECT_FALSE(std::filesystem::exists(file("x.png")));
  expect_error("viz classify" + model + " --text '' --html " + file("x.html"), "empty");
  expect_error("viz classify" + model + " --text '" + long_text + "' --html " + file("x.html"),
               "at most 128");
  EXPECT_FALSE(std::filesystem::exists(file("x.html")));
  expect_error("viz classify" + model + " --text hi", "exactly one of", kExitUsage);
}

TEST_F(CliClassifyTest, CheckpointsOfTheWrongKindAreRejected) {
  const std::string gpt = file("gpt.safetensors");
  ASSERT_EQ(run("train --preset tiny --steps 1 --out " + gpt).status, 0);
  expect_error("classify eval --model " + gpt, "not a 'classifier'");
  expect_error("classify predict --model " + gpt + " --text hi", "not a 'classifier'");
  expect_error("viz classify --model " + gpt + " --text hi --out " + file("x.png"),
               "not a 'classifier'");
  const std::string classifier = tiny_model();
  expect_error("generate" + classifier + " --prompt hi", "not a 'gpt'");
  std::ofstream(file("corrupt.safetensors")) << "not a checkpoint";
  expect_error("classify eval --model " + file("corrupt.safetensors"), "corrupt.safetensors");
}

TEST_F(CliClassifyTest, MissingOrCorruptDataIsRejected) {
  expect_error("classify train --steps 1 --data " + file("none") + " --out " + file("m"),
               "none/imdb.tsv");
  const std::string data = tiny_data();
  std::ofstream(data + "/yelp.tsv", std::ios::app) << "positive\tnot a label\n";
  expect_error("classify train --steps 1 --data " + data + " --out " + file("m"), "yelp.tsv:21");
  EXPECT_FALSE(std::filesystem::exists(file("m")));
  const std::string model = tiny_model();  // rewrites the tiny data
  std::ofstream(data + "/yelp.tsv") << "";
  expect_error("classify eval" + model + " --data " + data, "yelp.tsv");
}

TEST_F(CliClassifyTest, BadOptionsAreRejected) {
  const std::string out = " --data " + tiny_data() + " --out " + file("m");
  expect_error("classify train --pooling max" + out, "--pooling must be one of attention | mean",
               kExitUsage);
  expect_error("classify train --steps 0" + out, "--steps must be at least 1", kExitUsage);
  expect_error("classify train --epochs 2 --steps 3" + out, "excludes", kExitUsage);
}

}  // namespace
}  // namespace attn::cli_testing
