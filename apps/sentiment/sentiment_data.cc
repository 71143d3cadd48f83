#include "apps/sentiment/sentiment_data.h"

#include <array>
#include <fstream>

#include "attn/core/error.h"
#include "attn/model/word_tokenizer.h"

namespace attn::apps {

SplitPart split_part(int64_t k) {
  if (k % 5 == 4) return SplitPart::kTest;
  if (k % 10 == 2) return SplitPart::kValidation;
  return SplitPart::kTrain;
}

namespace {

// One "LABEL<TAB>SENTENCE" line; `where` is "FILE:LINE" for the messages.
LabelledSentence parse_line(const std::string& line, const std::string& where) {
  ATTN_CHECK(line.size() >= 3 && (line[0] == '0' || line[0] == '1') && line[1] == '\t', where,
             ": expected 'LABEL<TAB>SENTENCE' with LABEL 0 or 1");
  LabelledSentence s;
  s.label = line[0] - '0';
  s.text = line.substr(2);
  try {
    s.words = model::split_words(s.text);
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
  ATTN_CHECK(!s.words.empty(), where, ": the sentence is empty");
  return s;
}

// Every label must appear in every part, or accuracy and training mean little.
void check_split(const SentimentSplit& split, const std::string& dir) {
  const std::pair<const char*, const std::vector<LabelledSentence>*> parts[] = {
      {"train", &split.train}, {"validation", &split.validation}, {"test", &split.test}};
  for (const auto& [name, part] : parts) {
    std::array<bool, 2> seen{};
    for (const LabelledSentence& s : *part) seen[static_cast<size_t>(s.label)] = true;
    ATTN_CHECK(seen[0] && seen[1], dir, ": the ", name,
               " split lacks sentences of one label (too few sentences?)");
  }
}

}  // namespace

std::vector<LabelledSentence> read_sentiment_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ATTN_CHECK(in.good(), path, ": cannot open the data file");
  std::vector<LabelledSentence> sentences;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    sentences.push_back(parse_line(line, path + ":" + std::to_string(n)));
  }
  ATTN_CHECK(!sentences.empty(), path, ": no sentences");
  return sentences;
}

SentimentSplit load_sentiment(const std::string& dir) {
  SentimentSplit split;
  for (const char* source : {"imdb", "amazon", "yelp"}) {
    std::array<int64_t, 2> seen{};  // sentences of each label so far
    for (LabelledSentence& s : read_sentiment_file(dir + "/" + source + ".tsv")) {
      const SplitPart part = split_part(seen[static_cast<size_t>(s.label)]++);
      auto& to = part == SplitPart::kTest         ? split.test
                 : part == SplitPart::kValidation ? split.validation
                                                  : split.train;
      to.push_back(std::move(s));
    }
  }
  check_split(split, dir);
  return split;
}

const std::vector<std::string>& sentiment_labels() {
  static const std::vector<std::string> labels = {"negative", "positive"};
  return labels;
}

}  // namespace attn::apps
