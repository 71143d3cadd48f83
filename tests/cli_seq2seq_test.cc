// End-to-end tests of `attn seq2seq` and `attn viz seq2seq`: a short training on a slice of the
// dictionary whose checkpoint eval, predict and viz read, and every bad input.
#include <cstdlib>
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

class CliSeq2SeqTest : public CliTest {
 protected:
  // One thread: these runs are small, and OpenMP threads that wait for each other on a busy
  // machine would cost more than they give.
  void SetUp() override {
    CliTest::SetUp();
    setenv("OMP_NUM_THREADS", "1", 1);
  }
  // A data directory with the first `lines` entries of the dictionary (21 test words in 600).
  std::string small_data(int lines = 600) {
    std::filesystem::create_directories(file("data"));
    std::ifstream in(std::string(ATTN_DATA_DIR) + "/cmudict/cmudict.txt");
    std::ofstream out(file("data/cmudict.txt"));
    std::string line;
    for (int i = 0; i < lines && std::getline(in, line); ++i) out << line << '\n';
    return file("data");
  }
  // Trains a few steps on small_data() into m.safetensors; returns its path.
  std::string trained() {
    const CliRun r =
        run("seq2seq train --steps 3 --data " + small_data() + " --out " + file("m.safetensors"));
    EXPECT_EQ(r.status, 0) << r.err;
    return file("m.safetensors");
  }
  // Expects `args` to fail with `status` (1: bad input, 2: bad command line) and one error line
  // that contains `needle`.
  void expect_error(const std::string& args, const std::string& needle, int status = kExitFailure) {
    const CliRun r = run(args);
    EXPECT_EQ(r.status, status) << args;
    EXPECT_TRUE(is_one_error_line(r.err)) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }
};

TEST_F(CliSeq2SeqTest, TrainJsonEndsWithTheScoresThatEvalReproduces) {
  const CliRun r = run("seq2seq train --steps 4 --json --data " + small_data() + " --out " +
                       file("m.safetensors"));
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::vector<nlohmann::json> objects;
  for (std::string line; std::getline(lines, line);) objects.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(objects.size(), 5u);  // one per step, then the score
  EXPECT_EQ(objects[0]["step"], 1);
  const nlohmann::json& last = objects.back();
  EXPECT_EQ(last["test_words"], 21);
  const double per = last["phoneme_error_rate"];
  EXPECT_TRUE(per >= 0.0 && per < 10.0) << per;
  EXPECT_GE(double(last["word_accuracy"]), 0.0);

  const CliRun eval =
      run("seq2seq eval --json --model " + file("m.safetensors") + " --data " + file("data"));
  ASSERT_EQ(eval.status, 0) << eval.err;
  const nlohmann::json score = nlohmann::json::parse(eval.out);
  EXPECT_EQ(score["phoneme_error_rate"], last["phoneme_error_rate"]);
  EXPECT_EQ(score["decoding"], "greedy");
  const CliRun beam =
      run("seq2seq eval --beam 3 --model " + file("m.safetensors") + " --data " + file("data"));
  ASSERT_EQ(beam.status, 0) << beam.err;
  EXPECT_NE(beam.out.find("beam 3"), std::string::npos) << beam.out;
}

TEST_F(CliSeq2SeqTest, PredictAndVizReadTheCheckpoint) {
  const std::string model = trained();
  const CliRun p = run("seq2seq predict --model " + model + " --word Cat");
  ASSERT_EQ(p.status, 0) << p.err;
  ASSERT_FALSE(p.out.empty());
  EXPECT_EQ(p.out.back(), '\n');
  std::istringstream symbols(p.out);
  for (std::string s; symbols >> s;) {
    EXPECT_TRUE(s.size() <= 2 && std::isupper(static_cast<unsigned char>(s[0]))) << s;
  }
  EXPECT_EQ(run("seq2seq predict --beam 4 --model " + model + " --word cat").status, 0);
  const CliRun v = run("viz seq2seq --model " + model + " --word cat --out " + file("a.png"));
  ASSERT_EQ(v.status, 0) << v.err;
  std::ifstream png(file("a.png"), std::ios::binary);
  char magic[4] = {};
  png.read(magic, 4);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG");
  const CliRun page = run("viz seq2seq --model " + model + " --word cat --html " + file("a.html"));
  ASSERT_EQ(page.status, 0) << page.err;
  const std::string html = attn::testing::read_file(file("a.html"));
  for (const char* map : {"cross-attention", "decoder self-attention", "encoder self-attention"}) {
    EXPECT_NE(html.find("\"name\":\"" + std::string(map) + "\""), std::string::npos) << map;
  }
}

TEST_F(CliSeq2SeqTest, BadWordsAreRejectedNamingTheProblem) {
  const std::string predict = "seq2seq predict --model " + trained() + " --word ";
  expect_error(predict + "''", "empty");
  expect_error(predict + std::string(25, 'a'), "limit of 24");
  expect_error(predict + "abc1", "'1'");
  expect_error(predict + "it.s", "'.'");
  expect_error(predict + "caf$(printf '\\303\\251')", "character '\xC3\xA9'");
  expect_error(predict + "cat --beam 0", "--beam must be in [1, 64], got 0", kExitUsage);
  expect_error(
      "viz seq2seq --model " + file("m.safetensors") + " --word 'a b' --out " + file("x.png"),
      "'\\x20'");
  EXPECT_FALSE(std::filesystem::exists(file("x.png")));
  const std::string viz =
      "viz seq2seq --model " + file("m.safetensors") + " --html " + file("x.html");
  expect_error(viz + " --word ''", "empty");
  expect_error(viz + " --word " + std::string(25, 'a'), "limit of 24");
  EXPECT_FALSE(std::filesystem::exists(file("x.html")));
  expect_error(viz + " --word cat --out " + file("x.png"), "exactly one of", kExitUsage);
}

TEST_F(CliSeq2SeqTest, CheckpointsOfAnotherKindOrDamagedAreRejected) {
  ASSERT_EQ(run("train --preset tiny --steps 1 --out " + file("gpt.safetensors")).status, 0);
  expect_error("seq2seq predict --model " + file("gpt.safetensors") + " --word cat", "gpt");
  expect_error("seq2seq eval --model " + file("gpt.safetensors"), "gpt");
  std::ofstream(file("bad.safetensors")) << "not a checkpoint";
  expect_error("seq2seq predict --model " + file("bad.safetensors") + " --word cat",
               "bad.safetensors");
}

TEST_F(CliSeq2SeqTest, CorruptDataIsRejectedNamingTheLine) {
  std::filesystem::create_directories(file("bad"));
  std::ofstream(file("bad/cmudict.txt")) << "cat K AE T\ndog D AO XX\n";
  expect_error("seq2seq train --steps 1 --data " + file("bad"), "cmudict.txt:2");
  std::ofstream(file("bad/cmudict.txt")) << "cat K AE T\nd0g D AO G\n";
  expect_error("seq2seq train --steps 1 --data " + file("bad"), "cmudict.txt:2");
  std::ofstream(file("bad/cmudict.txt")) << "";
  expect_error("seq2seq train --steps 1 --data " + file("bad"), "empty");
  expect_error("seq2seq train --steps 1 --data " + file("missing"), "cannot open");
}

}  // namespace
}  // namespace attn::cli_testing
