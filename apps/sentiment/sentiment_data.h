// The labelled sentences of data/sentiment/ and their fixed train / validation / test split.
//
// Files: imdb.tsv, amazon.tsv and yelp.tsv in one folder, one sentence per line,
// "LABEL<TAB>SENTENCE" with LABEL 0 (negative) or 1 (positive).
//
// Split, deterministic and stratified by source and label: the k-th sentence (k = 0, 1, ...) of
// a given source and label goes to
//   test        when k mod 5 = 4                          (1 in 5)
//   validation  when k mod 10 = 2                         (1 in 10; for early stopping)
//   train       otherwise.
// For the shipped files (500 sentences per source and label): 2,100 / 300 / 600.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attn::apps {

struct LabelledSentence {
  std::string text;
  std::vector<std::string> words;  // model::split_words(text)
  int32_t label = 0;               // 0 negative, 1 positive
};

struct SentimentSplit {
  std::vector<LabelledSentence> train, validation, test;
};

enum class SplitPart { kTrain, kValidation, kTest };

// The part of the k-th sentence of its source and label.
SplitPart split_part(int64_t k);

// The sentences of one file; throws attn::Error naming the file (and line) if it is missing,
// or a line is malformed (no tab, a label other than 0 or 1, an empty sentence, text that is not
// UTF-8 or holds control characters).
std::vector<LabelledSentence> read_sentiment_file(const std::string& path);

// The three files of `dir`, split as above; throws attn::Error if a file is missing or bad, or a
// part of the split lacks a label.
SentimentSplit load_sentiment(const std::string& dir);

// The label names: 0 "negative", 1 "positive".
const std::vector<std::string>& sentiment_labels();

}  // namespace attn::apps
